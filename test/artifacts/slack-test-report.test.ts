import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startSlackBed, buildIdOf, type SlackBed } from '../chat/slack/slack-test-bed.js';
import { makeRepo } from '../support/git-repo.js';

// The Slack failure reply of a failing pytest suite names exactly its failing tests (from its
// JUnit XML) before the log excerpt; the final root lists the kept artifacts.
const hasPytest = await promisify(execFile)('python3', ['-m', 'pytest', '--version'], { env: { PATH: '/usr/local/bin:/usr/bin:/bin' } }).then(
  () => true,
  () => false,
);
let bed: SlackBed | undefined;
after(async () => {
  await bed?.stop();
});

test(
  'a failing pytest suite: the thread reply lists the failing tests before the log lines',
  { skip: !hasPytest && !process.env.CI ? 'no python3 -m pytest on the system PATH' : false },
  async () => {
    bed = await startSlackBed('socket');
    const { fake, h } = bed;
    const repo = await makeRepo(h.dataDir, 'shop', {
      'tests/test_shop.py': [
        'def test_login():',
        '    assert 2 == 3, "login broke"',
        'def test_ok():',
        '    pass',
        'def test_refund():',
        '    assert False, "refund broke"',
        '',
      ].join('\n'),
      'bosun.yml': [
        'version: 1',
        'image: any',
        'stages:',
        '  test:',
        '    steps:',
        '      - name: pytest',
        '        run: [python3 -m pytest -q -p no:cacheprovider --junitxml=reports/junit.xml tests]',
        '        reports: [reports/*.xml]',
        '        artifacts: [reports/junit.xml]',
        '',
      ].join('\n'),
    });
    h.server.core.config.repos.shop = { url: repo.url, defaultBranch: 'master', secrets: [] };
    await bed.command('build shop#master', 'UREP', { channel: 'CREP' });
    const thread = await fake.waitFor(() => fake.channel('CREP')[0], 60_000, 'root');
    const id = buildIdOf(thread.root.text);
    const b = await h.waitDone(id);
    assert.equal(b.status, 'failed');
    const reply = await fake.waitFor(() => fake.channel('CREP')[0]?.replies.find((r) => /Failing tests/.test(r.text)), 60_000, 'failure reply');
    const named = [...reply.text.matchAll(/• `([^`]+)`/g)].map((m) => m[1]);
    assert.deepEqual(
      named,
      b.stages[0]!.tests!.failures.map((f) => f.name),
    );
    assert.deepEqual([...named].sort(), ['tests.test_shop.test_login', 'tests.test_shop.test_refund']);
    assert.match(reply.text, /Failing tests \(2 of 3\)/);
    assert.ok(reply.text.indexOf('Failing tests') < reply.text.indexOf('Last '), 'the tests come before the log excerpt');
    const root = await fake.waitFor(
      () => {
        const m = fake.messages.get(thread.root.ts);
        return m && /: failed/.test(m.text) && JSON.stringify(m.blocks ?? []).includes('Artifacts') ? m : undefined;
      },
      60_000,
      'final root with artifacts',
    );
    assert.match(JSON.stringify(root.blocks), /reports\/junit\.xml/);
  },
);

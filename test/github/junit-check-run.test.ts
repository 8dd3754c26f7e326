import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { makeRepo } from '../support/git-repo.js';
import type { Build } from '../../src/domain/build.js';
import { pushPayload } from '../fakes/fake-github-payloads.js';
import { startGithubHarness, eventually, type GithubHarness } from './github-harness.js';

// Issue 15's report bullet on GitHub's side: a real failing pytest suite writes JUnit XML; the
// stage's check run names exactly the failing tests the XML names (and annotates the file and
// line pytest reported), before the log excerpt. Steps run on the local executor with the
// system's python3 and Debian's python3-pytest (scripts/install-deps.sh).
const hasPytest = await promisify(execFile)('python3', ['-m', 'pytest', '--version'], { env: { PATH: '/usr/local/bin:/usr/bin:/bin' } }).then(
  () => true,
  () => false,
);
const sender = { id: 101, login: 'dev' };

const suite = [
  'def test_login():',
  '    assert 1 + 1 == 3, "login broke"',
  'def test_browse():',
  '    assert True',
  'def test_refund():',
  '    raise ValueError("refund exploded")',
  'def test_search():',
  '    assert "a" in "abc"',
  '',
].join('\n');
const spec = [
  'version: 1',
  'image: any',
  'stages:',
  '  test:',
  '    reports: [reports/*.xml]',
  '    artifacts: [reports/*.xml]',
  '    steps:',
  '      - name: pytest',
  '        run: [python3 -m pytest -q -p no:cacheprovider --junitxml=reports/junit.xml tests]',
  '',
].join('\n');

let g: GithubHarness;
before(async () => {
  g = await startGithubHarness({}, { checkRuns: true });
});
after(async () => {
  await g?.stop();
});

test(
  'a failing pytest suite: the check run lists exactly the failing tests of its JUnit XML, before the log',
  { skip: !hasPytest && !process.env.CI ? 'no python3 -m pytest on the system PATH (apt-get install python3-pytest)' : false },
  async () => {
    const repo = await makeRepo(g.h.dataDir, 'shop', { 'bosun.yml': spec, 'tests/test_shop.py': suite });
    g.h.server.core.config.repos['acme/shop'] = { url: repo.url, defaultBranch: 'master', secrets: [] };
    g.gh.addRepo('acme/shop', repo.dir);
    const sha = await repo.commit({ 'README.md': 'shop\n' }, 'readme');
    const res = await g.gh.deliver('push', pushPayload({ repo: 'acme/shop', ref: 'refs/heads/master', after: sha, sender }));
    assert.equal(res.status, 202);
    const list = async (): Promise<Build[]> => (await g.h.server.core.store.list({ repo: 'acme/shop', limit: 10 })).filter((b) => b.sha === sha);
    const [queued] = await eventually(list, (x) => x.length === 1, 60_000);
    const build = await g.h.waitDone(queued!.id, 120_000);
    assert.equal(build.status, 'failed');

    // What the XML pytest wrote says failed (kept as an artifact, read back from the store).
    const xml = readFileSync(`${g.h.dataDir}/artifacts/acme%2Fshop/${build.id}/reports/junit.xml`, 'utf8');
    const failing = [...xml.matchAll(/<testcase classname="([^"]+)" name="([^"]+)"[^>]*>\s*<failure/g)].map((m) => `${m[1]}.${m[2]}`).sort();
    assert.deepEqual(failing, ['tests.test_shop.test_login', 'tests.test_shop.test_refund']);

    const [run] = await eventually(
      () => [...g.gh.checkRuns.values()].filter((c) => c.head_sha === sha && c.status === 'completed'),
      (c) => c.length === 1,
      60_000,
    );
    assert.equal(run!.conclusion, 'failure');
    const summary = run!.output!.summary;
    const logAt = summary.indexOf('### Last lines of');
    assert.ok(logAt > 0, `the summary ends with the log excerpt:\n${summary}`);
    const beforeLog = summary.slice(0, logAt);
    const named = [...beforeLog.matchAll(/`(tests\.test_shop\.test_\w+)`/g)].map((m) => m[1]);
    assert.deepEqual(named.sort(), failing, `the failing tests, listed before the log, are exactly the XML's:\n${summary}`);
    assert.match(beforeLog, /4 run, 2 failed/);
    assert.match(beforeLog, /login broke/);
    assert.ok(!/test_browse|test_search/.test(summary), 'passing tests are not listed');
  },
);

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { parseJunit } from '../../src/artifacts/junit-report.js';
import type { Build } from '../../src/domain/build.js';

// `reports:` end to end: a real failing pytest suite writes JUnit XML; the stage's `tests` name
// exactly the failing cases the XML names. Hostile and broken reports give `problems` and never
// change the build's result.
// Steps on the local executor get the system PATH: the system's python3 (Debian's python3-pytest, scripts/install-deps.sh).
const hasPytest = await promisify(execFile)('python3', ['-m', 'pytest', '--version'], { env: { PATH: '/usr/local/bin:/usr/bin:/bin' } }).then(
  () => true,
  () => false,
);
let h: Harness;
before(async () => {
  h = await startHarness({ artifacts: { maxReportBytes: 64 * 1024 } });
});
after(async () => {
  await h?.stop();
});

async function run(name: string, files: Record<string, string>): Promise<Build> {
  const repo = await makeRepo(h.dataDir, name, files);
  h.server.core.config.repos[name] = { url: repo.url, defaultBranch: 'master', secrets: [] };
  const res = await h.api('POST', '/api/builds', { repo: name, ref: 'master' });
  assert.equal(res.status, 201, JSON.stringify(res.json));
  return h.waitDone(res.json.build.id as string, 120_000);
}

test(
  'a failing pytest suite: the stage records exactly the failing tests its JUnit XML names',
  { skip: !hasPytest && !process.env.CI ? 'no python3 -m pytest on the system PATH (apt-get install python3-pytest)' : false },
  async () => {
    const b = await run('pytest-fail', {
      'tests/test_shop.py': [
        'def test_login():',
        '    assert 1 + 1 == 3, "login broke"',
        'def test_browse():',
        '    assert True',
        'def test_refund():',
        '    raise ValueError("refund exploded")',
        'def test_search():',
        '    assert "a" in "abc"',
        '',
      ].join('\n'),
      'bosun.yml': [
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
      ].join('\n'),
    });
    assert.equal(b.status, 'failed');
    const tests = b.stages[0]!.tests;
    assert.ok(tests, 'the stage has a test summary');
    // Checked against the XML pytest wrote (kept as an artifact too).
    const xml = readFileSync(`${h.dataDir}/artifacts/pytest-fail/${b.id}/reports/junit.xml`, 'utf8');
    const failing = [...xml.matchAll(/<testcase classname="([^"]+)" name="([^"]+)"[^>]*>\s*<failure/g)].map((m) => `${m[1]}.${m[2]}`);
    assert.deepEqual(failing.sort(), ['tests.test_shop.test_login', 'tests.test_shop.test_refund']);
    assert.deepEqual(tests.failures.map((f) => f.name).sort(), failing.sort());
    assert.deepEqual(
      { total: tests.total, failed: tests.failed + tests.errors, skipped: tests.skipped, files: tests.files },
      { total: 4, failed: 2, skipped: 0, files: ['reports/junit.xml'] },
    );
    assert.match(tests.failures.find((f) => f.name.endsWith('test_login'))?.message ?? '', /login broke/);
    const status = await h.api('POST', '/api/commands', { text: `status ${b.id}` });
    assert.match(status.json.text, /test: 2 of 4 failed — tests\.test_shop\.test_login, tests\.test_shop\.test_refund/);
  },
);

const laughs = `<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;"><!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">]>
<testsuites><testsuite name="x" tests="1"><testcase classname="c" name="&lol9;"><failure message="&lol9;"/></testcase></testsuite></testsuites>
`;
const good =
  '<testsuites><testsuite name="s"><testcase classname="pkg.mod" name="test_ok"/><testcase classname="pkg.mod" name="test_skip"><skipped/></testcase></testsuite></testsuites>\n';

test('billion laughs, malformed, oversized and symlinked reports are problems; the build still succeeds', async () => {
  const b = await run('bad-reports', {
    'r/laughs.xml': laughs,
    'r/broken.xml': '<testsuites><testsuite><testcase name="a"></testsuite>\n',
    'r/good.xml': good,
    'bosun.yml': [
      'version: 1',
      'image: any',
      'stages:',
      '  test:',
      '    steps:',
      '      - name: make',
      '        run: ["head -c 70000 /dev/zero | tr \\"\\\\0\\" x > r/huge.xml", ln -s /etc/passwd r/passwd.xml]',
      '        reports: [r/*.xml]',
      '',
    ].join('\n'),
  });
  assert.equal(b.status, 'success');
  const tests = b.stages[0]!.tests!;
  assert.deepEqual(
    { total: tests.total, failed: tests.failed, skipped: tests.skipped, files: tests.files },
    { total: 2, failed: 0, skipped: 1, files: ['r/good.xml'] },
  );
  const problems = (tests.problems ?? []).join('\n');
  assert.match(problems, /r\/laughs\.xml: refused: DOCTYPE or entity declarations/);
  assert.match(problems, /r\/broken\.xml: not well-formed XML/);
  assert.match(problems, /r\/huge\.xml: larger than 64 KiB/);
  assert.match(problems, /r\/passwd\.xml is a symlink \(to \/etc\/passwd\): not read/);
});

test('the parser never expands entities, even without a DOCTYPE check', () => {
  const r = parseJunit(
    'x.xml',
    '<testsuites><testsuite><testcase classname="a" name="t&amp;1"><failure message="&lt;boom&gt;"/></testcase></testsuite></testsuites>',
  );
  assert.ok(r.ok);
  // The five predefined entities and character references are decoded (no expansion can grow).
  assert.deepEqual([r.summary.failures[0]?.name, r.summary.failures[0]?.message], ['a.t&1', '<boom>']);
  const nested = parseJunit(
    'n.xml',
    '<testsuites><testsuite><testsuite><testcase name="deep"><error message="e"/></testcase></testsuite></testsuite></testsuites>',
  );
  assert.ok(nested.ok);
  assert.deepEqual([nested.summary.total, nested.summary.errors, nested.summary.failures[0]?.name], [1, 1, 'deep']);
});

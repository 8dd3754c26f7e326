import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { runCli } from '../../src/cli/run-cli.js';
import { join } from 'node:path';
import { startHarness, testToken, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';

// `artifacts:` end to end on the local executor: kept with their sha256, capped, symlinks
// refused, brought into a later stage, downloadable through the authenticated API.
let h: Harness;
before(async () => {
  h = await startHarness({ artifacts: { maxFileBytes: 2048, maxBuildBytes: 5000 } });
});
after(async () => {
  await h?.stop();
});

const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

async function runBuild(name: string, yml: string[]): Promise<{ id: string; log: (stage: string, step: string) => Promise<string> }> {
  const repo = await makeRepo(h.dataDir, name, { 'bosun.yml': [...yml, ''].join('\n') });
  h.server.core.config.repos[name] = { url: repo.url, defaultBranch: 'master', secrets: [] };
  const res = await h.api('POST', '/api/builds', { repo: name, ref: 'master' });
  assert.equal(res.status, 201, JSON.stringify(res.json));
  const id = res.json.build.id as string;
  await h.waitDone(id, 60_000);
  return { id, log: async (stage, step) => String((await h.api('GET', `/api/builds/${id}/logs/${stage}/${step}`)).json) };
}

test('a step keeps its artifacts with sha256, refuses a symlink to /etc/passwd and caps a large file; a needing stage sees them', async () => {
  const { id, log } = await runBuild('art-keep', [
    'version: 1',
    'image: any',
    'stages:',
    '  build:',
    '    steps:',
    '      - name: make',
    '        run:',
    '          - mkdir -p dist/sub',
    '          - printf wheel > dist/app.whl',
    '          - printf deep > dist/sub/deep.txt',
    '          - ln -s /etc/passwd dist/passwd',
    '          - head -c 3000 /dev/zero > dist/big.bin',
    '          - truncate -s 10G dist/huge.bin',
    '        artifacts: [dist/**, missing/*.txt]',
    '  check:',
    '    needs: [build]',
    '    steps:',
    '      - name: see',
    '        run: [cat dist/app.whl]',
  ]);
  const b = (await h.api('GET', `/api/builds/${id}`)).json.build;
  assert.equal(b.status, 'success');
  const kept = (b.artifacts as { path: string; sha256: string; size: number; stage: string }[]).map((f) => [f.path, f.sha256, f.size, f.stage]).sort();
  assert.deepEqual(kept, [
    ['dist/app.whl', sha('wheel'), 5, 'build'],
    ['dist/sub/deep.txt', sha('deep'), 4, 'build'],
  ]);
  const text = await log('build', 'make');
  assert.match(text, /artifact dist\/passwd is a symlink \(to \/etc\/passwd\): not read/);
  assert.match(text, /artifact dist\/big\.bin not kept: 2\.9 KiB is over the 2 KiB per-file cap/);
  // A 10 GB (sparse) file is refused from its size alone, never read.
  assert.match(text, /artifact dist\/huge\.bin not kept: 10 GiB is over the 2 KiB per-file cap \(artifacts\.maxFileBytes\)/);
  assert.match(text, /kept artifact dist\/app\.whl \(5 B, sha256 [0-9a-f]{64}\)/);
  assert.match(text, /nothing matched missing\/\*\.txt/);
  assert.match(await log('check', 'see'), /wheel/);
  // Nothing but the two files is in the store: /etc/passwd was never read.
  const stored = readdirSync(join(h.dataDir, 'artifacts', 'art-keep', id, 'dist'), { recursive: true })
    .map(String)
    .sort();
  assert.deepEqual(stored, ['app.whl', 'sub', 'sub/deep.txt']);

  const listing = await h.api('GET', `/api/builds/${id}/artifacts`);
  assert.equal(listing.status, 200);
  assert.equal(listing.json.artifacts.length, 2);
  const res = await fetch(`${h.url}/api/builds/${id}/artifacts/dist/app.whl`, { headers: { authorization: `Bearer ${testToken}` } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/octet-stream');
  assert.equal(res.headers.get('content-length'), '5');
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(sha(body), sha('wheel'));
  assert.equal(res.headers.get('x-bosun-sha256'), sha('wheel'));
  assert.equal((await fetch(`${h.url}/api/builds/${id}/artifacts/dist/app.whl`)).status, 401);
  // The thin CLI: list, download with the sha256 checked, refuse an unknown path.
  const cli = async (...args: string[]) => {
    let text = '';
    const cwd = mkdtempSync(join(tmpdir(), 'bosun-art-cli-'));
    const code = await runCli({
      argv: ['--url', h.url, '--token', testToken, 'artifacts', ...args],
      env: {},
      cwd,
      stdout: { write: (t: string) => void (text += t) },
      stderr: { write: (t: string) => void (text += t) },
      readStdin: async () => '',
    });
    return { code, text, cwd };
  };
  const listed = await cli(id);
  assert.equal(listed.code, 0);
  assert.match(listed.text, new RegExp(`dist/app\\.whl\\t5\\tsha256:${sha('wheel')}\\t\\(build/make\\)`));
  const got = await cli(id, '--get', 'dist/app.whl');
  assert.equal(got.code, 0, got.text);
  assert.equal(sha(readFileSync(join(got.cwd, 'app.whl'))), sha('wheel'));
  assert.match(got.text, /sha256:[0-9a-f]{64} verified/);
  const missing = await cli(id, '--get', 'dist/passwd');
  assert.equal(missing.code, 1);
  assert.match(missing.text, /kept no artifact dist\/passwd; it kept: dist\/app\.whl, dist\/sub\/deep\.txt/);
  assert.equal((await cli('x')).code, 1);
  for (const bad of ['dist/passwd', 'dist/big.bin', 'dist/huge.bin', '..%2f..%2fetc%2fpasswd', 'dist/%2e%2e/%2e%2e/%2e%2e/etc/passwd']) {
    const r = await fetch(`${h.url}/api/builds/${id}/artifacts/${bad}`, { headers: { authorization: `Bearer ${testToken}` } });
    assert.equal(r.status, 404, bad);
  }
});

test('past the per-build cap files are not kept, with one clear line; the build result is unchanged', async () => {
  const { id, log } = await runBuild('art-cap', [
    'version: 1',
    'image: any',
    'stages:',
    '  build:',
    '    steps:',
    '      - name: make',
    '        run:',
    '          - mkdir -p out',
    '          - for i in 1 2 3 4 5 6 7 8 9 10 11 12; do head -c 2000 /dev/zero > out/f$i.bin; done',
    '          - exit 3',
    '    artifacts: [out]',
  ]);
  const b = (await h.api('GET', `/api/builds/${id}`)).json.build;
  assert.equal(b.status, 'failed', JSON.stringify(b, null, 1) + (await log('build', 'make')));
  assert.equal(b.stages[0].steps[0].exitCode, 3);
  // Collected on failure too (stage-level `artifacts`), up to the 5000-byte build cap: two files.
  assert.equal(b.artifacts.length, 2);
  const text = await log('build', 'make');
  assert.equal(text.match(/artifacts capped: the build keeps at most 4\.9 KiB \(artifacts\.maxBuildBytes\)/g)?.length, 1);
  assert.equal(text.match(/kept artifact out\//g)?.length, 2);
});

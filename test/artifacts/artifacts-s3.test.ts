import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, testToken, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { startS3Server, type S3TestServer } from '../support/s3-server.js';

// `artifacts:` end to end on the local executor with `artifacts.store: { kind: s3 }`: kept in
// the bucket (nothing in the data directory), brought into a needing stage from there,
// downloaded through the API with a matching sha256, and removed by the server's own sweeper.
const keys = { accessKeyId: 'BOSUNE2EKEY', secretAccessKey: 'bosun-e2e-secret' };
let s3: S3TestServer;
let h: Harness;
let secrets: string;
before(async () => {
  s3 = await startS3Server({ ...keys, buckets: ['bosun-e2e'] });
  secrets = mkdtempSync(join(tmpdir(), 'bosun-s3-keys-'));
  writeFileSync(join(secrets, 'id'), `${keys.accessKeyId}\n`);
  writeFileSync(join(secrets, 'secret'), `${keys.secretAccessKey}\n`);
  h = await startHarness({
    artifacts: {
      store: {
        kind: 's3',
        endpoint: s3.endpoint,
        bucket: 'bosun-e2e',
        prefix: 'bosun/',
        accessKeyIdFile: join(secrets, 'id'),
        secretAccessKeyFile: join(secrets, 'secret'),
      },
      retainBuildsPerRepo: 1,
      sweepIntervalSec: 1,
    },
  });
});
after(async () => {
  await h?.stop();
  await s3?.close();
  rmSync(secrets, { recursive: true, force: true });
});

const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

async function runBuild(name: string, yml: string[]): Promise<string> {
  const repo = await makeRepo(h.dataDir, name, { 'bosun.yml': [...yml, ''].join('\n') });
  h.server.core.config.repos[name] = { url: repo.url, defaultBranch: 'master', secrets: [] };
  const res = await h.api('POST', '/api/builds', { repo: name, ref: 'master' });
  assert.equal(res.status, 201, JSON.stringify(res.json));
  const id = res.json.build.id as string;
  await h.waitDone(id, 60_000);
  return id;
}

const objectKeys = (): string[] => [...s3.objects('bosun-e2e').keys()].sort();

test('a build keeps its artifacts in the S3 bucket, a needing stage gets them, the API serves them with their sha256, the sweeper deletes them', async () => {
  const yml = [
    'version: 1',
    'image: any',
    'stages:',
    '  build:',
    '    steps:',
    '      - name: wheel',
    '        run: [mkdir -p dist, head -c 70000 /dev/urandom > dist/app.whl, sha256sum dist/app.whl > dist/app.whl.sha256]',
    '        artifacts: [dist/**]',
    '  check:',
    '    needs: [build]',
    '    steps:',
    '      - name: verify',
    '        run: [sha256sum -c dist/app.whl.sha256]',
  ];
  const first = await runBuild('s3-art', yml);
  const b = (await h.api('GET', `/api/builds/${first}`)).json.build;
  assert.equal(b.status, 'success', JSON.stringify(b, null, 1) + String((await h.api('GET', `/api/builds/${first}/logs/check/verify`)).json));
  assert.match(String((await h.api('GET', `/api/builds/${first}/logs/check/verify`)).json), /dist\/app\.whl: OK/);
  const whl = (b.artifacts as { path: string; sha256: string; size: number }[]).find((f) => f.path === 'dist/app.whl');
  assert.ok(whl);
  assert.equal(whl.size, 70000);
  // In the bucket under the prefix, and not in the data directory.
  assert.deepEqual(objectKeys(), [`bosun/s3-art/${first}/dist/app.whl`, `bosun/s3-art/${first}/dist/app.whl.sha256`]);
  assert.equal(sha(s3.objects('bosun-e2e').get(`bosun/s3-art/${first}/dist/app.whl`)?.body ?? ''), whl.sha256);
  assert.equal(existsSync(join(h.dataDir, 'artifacts')), false);

  const res = await fetch(`${h.url}/api/builds/${first}/artifacts/dist/app.whl`, { headers: { authorization: `Bearer ${testToken}` } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-length'), '70000');
  assert.equal(res.headers.get('x-bosun-sha256'), whl.sha256);
  assert.equal(sha(Buffer.from(await res.arrayBuffer())), whl.sha256);

  // A second build of the repository: with retainBuildsPerRepo 1, the server's sweeper
  // (every second here) deletes the first build's objects; its download then says so.
  const second = await runBuild('s3-art', yml);
  assert.equal((await h.api('GET', `/api/builds/${second}`)).json.build.status, 'success');
  const deadline = Date.now() + 30_000;
  while (objectKeys().some((k) => k.startsWith(`bosun/s3-art/${first}/`)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(objectKeys(), [`bosun/s3-art/${second}/dist/app.whl`, `bosun/s3-art/${second}/dist/app.whl.sha256`]);
  const gone = await h.api('GET', `/api/builds/${first}/artifacts/dist/app.whl`);
  assert.equal(gone.status, 404);
  assert.match(JSON.stringify(gone.json), /no longer stored/);
  // Every request the server saw was signed with the configured key (the server refuses others).
  assert.ok(s3.requests.some((r) => r.startsWith('DELETE /bosun-e2e/bosun/s3-art/')));
  assert.deepEqual(
    s3.requests.filter((r) => / -> (403|5\d\d)$/.test(r)),
    [],
  );

  // The bucket gone: the file is not kept, the step log says why, the build still succeeds.
  s3.dropBucket('bosun-e2e');
  const third = await runBuild('s3-art-nobucket', [
    'version: 1',
    'image: any',
    'stages:',
    '  build:',
    '    steps:',
    '      - name: make',
    '        run: [printf x > out.txt]',
    '        artifacts: [out.txt]',
  ]);
  const tb = (await h.api('GET', `/api/builds/${third}`)).json.build;
  assert.equal(tb.status, 'success');
  assert.deepEqual(tb.artifacts ?? [], []);
  assert.match(
    String((await h.api('GET', `/api/builds/${third}/logs/build/make`)).json),
    new RegExp(
      `artifact out\\.txt not kept: could not store it: S3 artifact store: PutObject s3://bosun-e2e/bosun/s3-art-nobucket/${third}/out\\.txt failed \\(HTTP 404\\): NoSuchBucket`,
    ),
  );
});

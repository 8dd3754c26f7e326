import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { ArtifactTooLargeError } from '../../src/artifacts/artifact-store.js';
import { sweepArtifacts } from '../../src/artifacts/artifact-sweeper.js';
import { S3StoreConfig } from '../../src/artifacts/artifacts-config.js';
import { S3ArtifactStore } from '../../src/artifacts/s3-artifact-store.js';
import { loadConfig } from '../../src/config.js';
import { startS3Server, type S3TestServer } from '../support/s3-server.js';

// The S3 store against a local S3-compatible server whose SigV4 checking is pinned by a real
// client, Debian's AWS CLI (scripts/install-deps.sh installs it with BOSUN_WITH_DOCKER=1).
const keys = { accessKeyId: 'BOSUNTESTKEY', secretAccessKey: 'bosun-test-secret-0123456789' };
const env = { AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey };
const aws = '/usr/bin/aws';
let s3: S3TestServer;
let dir: string;
before(async () => {
  s3 = await startS3Server({ ...keys, buckets: ['bosun-artifacts'] });
  dir = mkdtempSync(join(tmpdir(), 'bosun-s3-'));
});
after(async () => {
  await s3?.close();
  rmSync(dir, { recursive: true, force: true });
});

const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

function awsCli(args: string[], creds = keys): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      aws,
      ['--endpoint-url', s3.endpoint, '--region', 'us-east-1', ...args],
      {
        timeout: 60_000,
        env: {
          PATH: process.env.PATH,
          HOME: dir,
          AWS_ACCESS_KEY_ID: creds.accessKeyId,
          AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
          AWS_CONFIG_FILE: '/dev/null',
          AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
          AWS_EC2_METADATA_DISABLED: 'true',
          AWS_PAGER: '',
        },
      },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: stdout + stderr }),
    );
  });
}

const storeConfig = (over: Partial<S3StoreConfig> = {}): S3StoreConfig =>
  S3StoreConfig.parse({ kind: 's3', endpoint: s3.endpoint, bucket: 'bosun-artifacts', prefix: 'ci/', ...over }) as S3StoreConfig;

test(
  'the test S3 server speaks S3 to the real AWS CLI with the right key, and refuses a wrong secret or key id',
  { skip: !existsSync(aws) && 'no /usr/bin/aws (apt-get install awscli)' },
  async () => {
    const file = join(dir, 'hello.txt');
    writeFileSync(file, 'hello from the aws cli\n');
    const put = await awsCli(['s3', 'cp', file, 's3://bosun-artifacts/cli/dir/hello world.txt']);
    assert.equal(put.code, 0, put.out);
    assert.equal(s3.objects('bosun-artifacts').get('cli/dir/hello world.txt')?.body.toString(), 'hello from the aws cli\n');
    const ls = await awsCli(['s3', 'ls', 's3://bosun-artifacts/cli/', '--recursive']);
    assert.equal(ls.code, 0, ls.out);
    assert.match(ls.out, /23 cli\/dir\/hello world\.txt/);
    const get = await awsCli(['s3', 'cp', 's3://bosun-artifacts/cli/dir/hello world.txt', '-']);
    assert.equal(get.code, 0, get.out);
    assert.equal(get.out, 'hello from the aws cli\n');

    const wrongSecret = await awsCli(['s3', 'ls', 's3://bosun-artifacts/cli/', '--recursive'], { ...keys, secretAccessKey: 'not-the-secret' });
    assert.notEqual(wrongSecret.code, 0);
    assert.match(wrongSecret.out, /SignatureDoesNotMatch/);
    const wrongId = await awsCli(['s3', 'cp', file, 's3://bosun-artifacts/cli/evil.txt'], { ...keys, accessKeyId: 'SOMEONEELSE' });
    assert.notEqual(wrongId.code, 0);
    assert.match(wrongId.out, /InvalidAccessKeyId/);
    assert.equal(s3.objects('bosun-artifacts').has('cli/evil.txt'), false);

    const rm = await awsCli(['s3', 'rm', 's3://bosun-artifacts/cli/dir/hello world.txt']);
    assert.equal(rm.code, 0, rm.out);
    assert.equal(s3.objects('bosun-artifacts').has('cli/dir/hello world.txt'), false);
  },
);

test('S3ArtifactStore: put hashes and stores under the prefix, open streams it back, a missing file is undefined', async () => {
  const store = new S3ArtifactStore(storeConfig(), env);
  const content = Buffer.alloc(300_000, 'x');
  const put = await store.put('acme/api', '7', 'dist/app.whl', Readable.from([content.subarray(0, 1000), content.subarray(1000)]), 1_000_000);
  assert.deepEqual(put, { size: content.length, sha256: sha(content) });
  assert.equal(s3.objects('bosun-artifacts').get('ci/acme%2Fapi/7/dist/app.whl')?.body.length, content.length);
  const opened = await store.open('acme/api', '7', 'dist/app.whl');
  assert.ok(opened);
  assert.equal(opened.size, content.length);
  assert.equal(sha(Buffer.from(await text(opened.stream))), sha(content));
  assert.equal(await store.open('acme/api', '7', 'dist/other.whl'), undefined);
  assert.equal(await store.open('acme/api', '7', '../../etc/passwd'), undefined);
  // Over the cap: rejected, nothing stored.
  await assert.rejects(store.put('acme/api', '7', 'big.bin', Readable.from([Buffer.alloc(2000)]), 1000), ArtifactTooLargeError);
  assert.equal(s3.objects('bosun-artifacts').has('ci/acme%2Fapi/7/big.bin'), false);
  // A transient failure (503) is retried with the spooled file; three in a row are an error.
  s3.failPuts(2);
  assert.equal((await store.put('acme/api', '7', 'retried.txt', Readable.from(['again']), 100)).sha256, sha('again'));
  assert.equal(s3.objects('bosun-artifacts').get('ci/acme%2Fapi/7/retried.txt')?.body.toString(), 'again');
  s3.failPuts(3);
  await assert.rejects(store.put('acme/api', '7', 'lost.txt', Readable.from(['x']), 100), /PutObject .* failed \(HTTP 503\): SlowDown/);
  s3.failPuts(0);
  if (existsSync(aws)) {
    // What Bosun stored is an ordinary object to another client.
    const listed = await awsCli(['s3', 'ls', 's3://bosun-artifacts/ci/', '--recursive']);
    assert.match(listed.out, /300000 ci\/acme%2Fapi\/7\/dist\/app\.whl/);
  }
});

test("S3ArtifactStore: builds are listed by prefix and the retention sweeper deletes old and surplus builds' objects", async () => {
  const store = new S3ArtifactStore(storeConfig({ prefix: 'sweep/' }), env);
  for (const [repo, id] of [
    ['acme/api', '1'],
    ['acme/api', '2'],
    ['acme/api', '3'],
    ['demo', '4'],
  ] as const) {
    await store.put(repo, id, 'a.txt', Readable.from([`${repo}${id}`]), 100);
    await store.put(repo, id, 'sub/b.txt', Readable.from(['b']), 100);
  }
  // An object of someone else outside the prefix is never listed nor touched.
  s3.objects('bosun-artifacts').set('other/acme%2Fapi/1/a.txt', { body: Buffer.from('x'), lastModified: new Date(0), etag: '"x"' });
  const listed = (await store.builds()).map((b) => `${b.repo}#${b.buildId}`).sort();
  assert.deepEqual(listed, ['acme/api#1', 'acme/api#2', 'acme/api#3', 'demo#4']);
  const removed = await sweepArtifacts(store, { retainDays: 30, retainBuildsPerRepo: 2 });
  assert.deepEqual(
    removed.map((b) => `${b.repo}#${b.buildId}`),
    ['acme/api#1'],
  );
  const keysLeft = [...s3.objects('bosun-artifacts').keys()].filter((k) => k.startsWith('sweep/') || k.startsWith('other/')).sort();
  assert.deepEqual(keysLeft, [
    'other/acme%2Fapi/1/a.txt',
    'sweep/acme%2Fapi/2/a.txt',
    'sweep/acme%2Fapi/2/sub/b.txt',
    'sweep/acme%2Fapi/3/a.txt',
    'sweep/acme%2Fapi/3/sub/b.txt',
    'sweep/demo/4/a.txt',
    'sweep/demo/4/sub/b.txt',
  ]);
  // By age: a day past 30 days from now, everything under the prefix goes; idempotent.
  const later = new Date(Date.now() + 31 * 86_400_000);
  assert.equal((await sweepArtifacts(store, { retainDays: 30, retainBuildsPerRepo: 0 }, later)).length, 3);
  assert.deepEqual(await store.builds(), []);
  assert.deepEqual(await sweepArtifacts(store, { retainDays: 30, retainBuildsPerRepo: 0 }, later), []);
});

test("S3ArtifactStore: a wrong secret is an infrastructure error naming the operation and S3's code", async () => {
  const store = new S3ArtifactStore(storeConfig(), { ...env, AWS_SECRET_ACCESS_KEY: 'wrong' });
  await assert.rejects(store.put('demo', '1', 'a.txt', Readable.from(['a']), 100), (err: Error & { code?: string; retryable?: boolean }) => {
    assert.equal(err.code, 'infra');
    assert.equal(err.retryable, true);
    assert.match(err.message, /S3 artifact store: PutObject s3:\/\/bosun-artifacts\/ci\/demo\/1\/a\.txt failed \(HTTP 403\): SignatureDoesNotMatch/);
    return true;
  });
});

test('server config artifacts.store: the data directory by default; s3 needs a URL, a bucket name and credentials, from files or the environment', () => {
  const base = { dataDir: dir, redisUrl: 'redis://127.0.0.1:1' };
  assert.deepEqual(loadConfig({}, base).artifacts.store, { kind: 'dataDir' });
  const s3cfg = loadConfig({}, { ...base, artifacts: { store: { kind: 's3', endpoint: 'http://127.0.0.1:9000', bucket: 'bosun' } } }).artifacts.store;
  assert.deepEqual(s3cfg, { kind: 's3', endpoint: 'http://127.0.0.1:9000', bucket: 'bosun', region: 'us-east-1', prefix: '', forcePathStyle: true });
  for (const [store, message] of [
    [{ kind: 'gcs' }, /artifacts\.store\.kind: expected kind: dataDir or kind: s3/],
    [{ kind: 's3', endpoint: 'minio:9000', bucket: 'bosun' }, /artifacts\.store\.endpoint: expected an http:\/\/ or https:\/\/ URL/],
    [{ kind: 's3', endpoint: 'http://m:9000', bucket: 'Bosun_Artifacts' }, /artifacts\.store\.bucket: expected an S3 bucket name/],
    [{ kind: 's3', endpoint: 'http://m:9000', bucket: 'bosun', prefix: '/x' }, /artifacts\.store\.prefix: expected empty or a key prefix ending in \//],
    [{ kind: 's3', endpoint: 'http://m:9000', bucket: 'bosun', accessKeyIdFile: '/run/secrets/id' }, /give both accessKeyIdFile and secretAccessKeyFile/],
    [{ kind: 's3', endpoint: 'http://m:9000', bucket: 'bosun', secret: 'x' }, /artifacts\.store/],
  ] as const) {
    assert.throws(
      () => loadConfig({}, { ...base, artifacts: { store } } as never),
      (err: Error) => (assert.match(err.message, message), true),
      JSON.stringify(store),
    );
  }
  // Credentials: the files, else the environment, else a clear error.
  const id = join(dir, 'key-id');
  const secret = join(dir, 'secret');
  writeFileSync(id, `${keys.accessKeyId}\n`);
  writeFileSync(secret, `${keys.secretAccessKey}\n`);
  assert.ok(new S3ArtifactStore(storeConfig({ accessKeyIdFile: id, secretAccessKeyFile: secret }), {}));
  assert.throws(
    () => new S3ArtifactStore(storeConfig({ accessKeyIdFile: id, secretAccessKeyFile: join(dir, 'missing') }), {}),
    /artifacts\.store\.secretAccessKeyFile: cannot read .*missing \(ENOENT\)/,
  );
  assert.throws(
    () => new S3ArtifactStore(storeConfig(), {}),
    /has no credentials: set accessKeyIdFile and secretAccessKeyFile, or the environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/,
  );
  assert.equal(readFileSync(id, 'utf8').trim(), keys.accessKeyId);
});

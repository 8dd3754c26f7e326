import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeRepo } from '../support/git-repo.js';
import type { Build } from '../../src/domain/build.js';
import { silentLogger } from '../../src/logger.js';
import { AppTokens } from '../../src/github/app-tokens.js';
import { GithubClient } from '../../src/github/github-client.js';
import { loadConfig } from '../../src/config.js';
import { FakeGithub } from '../fakes/fake-github.js';
import { checkSuiteRerequestedPayload, installationReposPayload, pushPayload, requestedActionPayload } from '../fakes/fake-github-payloads.js';
import { startGithubHarness, eventually, type GithubHarness } from './github-harness.js';

/** A real RSA key, as GitHub hands out for an App (PKCS#1 PEM). */
const { privateKey, publicKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
});
const appId = 4242;
const installationId = 77;
const sender = { id: 101, login: 'dev' };

/** A step whose output has a tsc error, a Python traceback and a go vet finding, then fails. */
const failingSpec = JSON.stringify({
  version: 1,
  image: 'any',
  stages: {
    test: {
      steps: [
        {
          name: 'unit',
          run: [
            "echo 'src/a.ts(3,5): error TS2322: Type number is not assignable to type string.'",
            'printf \'Traceback (most recent call last):\\n  File "/usr/lib/python3/runpy.py", line 86, in _run_code\\n  File "/workspace/app/x.py", line 12, in f\\nValueError: bad input\\n\'',
            "echo './cmd/main.go:7:2: fmt.Printf format %d has arg name of wrong type string'",
            'exit 1',
          ],
        },
      ],
    },
  },
});

let g: GithubHarness;
let repo: Awaited<ReturnType<typeof makeRepo>>;

before(async () => {
  const gh = new FakeGithub();
  const keyFile = join(process.env.TMPDIR ?? '/tmp', `bosun-app-key-${process.pid}.pem`);
  writeFileSync(keyFile, privateKey, { mode: 0o600 });
  g = await startGithubHarness({}, { token: undefined, app: { appId, privateKeyFile: keyFile } }, {}, gh);
  g.gh.app = { id: appId, publicKey: (await import('node:crypto')).createPublicKey(publicKey), installations: { acme: installationId }, tokenTtlSec: 3600 };
  repo = await makeRepo(g.h.dataDir, 'api', { 'bosun.yml': failingSpec });
  g.h.server.core.config.repos['acme/api'] = { url: repo.url, defaultBranch: 'master', secrets: [] };
  g.gh.addRepo('acme/api', repo.dir);
});
after(async () => {
  await g?.stop();
});

const builds = async (pred: (b: Build) => boolean) => (await g.h.server.core.store.list({ repo: 'acme/api', limit: 100 })).filter(pred);
const tokenRequests = () => g.gh.requests.filter((r) => r.path === `/app/installations/${installationId}/access_tokens`);
const repoCalls = () => g.gh.requests.filter((r) => r.path.startsWith('/repos/acme/api/') && !r.path.endsWith('/installation'));

async function pushAndWait(files: Record<string, string>, branch: string): Promise<Build> {
  const sha = await repo.commit(files, branch);
  const res = await g.gh.deliver('push', pushPayload({ repo: 'acme/api', ref: 'refs/heads/master', after: sha, sender }));
  assert.equal(res.status, 202);
  const [b] = await eventually(
    () => builds((x) => x.sha === sha),
    (x) => x.length === 1,
  );
  const done = await g.h.waitDone(b!.id);
  // The check run is completed by the reporter after the build ends.
  await eventually(
    () => [...g.gh.checkRuns.values()].filter((c) => c.head_sha === sha && c.status === 'completed'),
    (c) => c.length === 1,
  );
  return done;
}

test('App flow: a JWT signed with the App key gets an installation token; the check run carries annotations, failing output and Re-run failed', async () => {
  const build = await pushAndWait({ 'x.txt': '1' }, 'first');
  assert.equal(build.status, 'failed');

  assert.equal(tokenRequests().length, 1, 'one installation token for the owner');
  assert.equal(tokenRequests()[0]!.status, 201, 'the fake verified the RS256 JWT');
  assert.ok(repoCalls().length > 0 && repoCalls().every((r) => r.status !== 401), 'every repository call had a valid installation token');

  const run = [...g.gh.checkRuns.values()].find((c) => c.head_sha === build.sha)!;
  assert.equal(run.name, 'bosun/test');
  assert.equal(run.conclusion, 'failure');
  assert.equal(run.external_id, `${build.id}/test`);
  assert.match(run.output!.summary, /Step `unit` failed \(exit 1\)/);
  assert.match(run.output!.summary, /ValueError: bad input/);
  assert.deepEqual(
    run.annotations.map((a) => [a.path, a.start_line, a.annotation_level]),
    [
      ['src/a.ts', 3, 'failure'],
      ['app/x.py', 12, 'failure'],
      ['cmd/main.go', 7, 'failure'],
    ],
  );
  assert.equal(run.annotations[1]!.message, 'ValueError: bad input');
  assert.deepEqual(
    run.actions.map((a) => a.identifier),
    ['rerun-failed'],
  );
  assert.equal(g.gh.checkSuites.get(run.check_suite)?.head_sha, build.sha, 'the check run sits in the check suite GitHub made for the head commit');
  // Commit statuses still go out beside the check run.
  assert.equal(g.gh.latest('acme/api', build.sha)['bosun/test'], 'failure');
});

test('the installation token expires: the 401 is answered with a fresh token and no call fails', async () => {
  g.gh.expireInstallationTokens();
  const before = tokenRequests().length;
  const firstCall = g.gh.requests.length;

  const build = await pushAndWait({ 'x.txt': '2' }, 'second');

  const after = g.gh.requests.slice(firstCall).filter((r) => r.path.startsWith('/repos/acme/api/'));
  assert.ok(
    after.some((r) => r.status === 401),
    'a call met the expired token',
  );
  assert.equal(tokenRequests().length, before + 1, 'one new token');
  assert.equal(g.gh.latest('acme/api', build.sha)['bosun/test'], 'failure', 'the statuses all landed');
  const run = [...g.gh.checkRuns.values()].find((c) => c.head_sha === build.sha)!;
  assert.equal(run.annotations.length, 3);
});

test('"Re-run failed" on the check run runs retry --failed on that build', async () => {
  const [build] = await builds(() => true);
  const run = [...g.gh.checkRuns.values()].find((c) => c.head_sha === build!.sha)!;
  const res = await g.gh.deliver('check_run', requestedActionPayload({ repo: 'acme/api', checkRun: run, identifier: 'rerun-failed', sender }));
  assert.equal(res.status, 202);
  const again = await eventually(
    () => g.h.server.core.store.get(build!.id),
    (b) => (b?.attempt ?? 0) > build!.attempt,
  );
  assert.equal(again!.id, build!.id, 'the same build, from its failed step');
});

test('"Re-run all checks" on the commit (check_suite rerequested) runs its build again as a new build', async () => {
  const [newest] = await builds(() => true);
  const latest = await g.h.waitDone(newest!.id);
  const count = (await builds((b) => b.sha === latest!.sha)).length;
  const res = await g.gh.deliver('check_suite', checkSuiteRerequestedPayload({ repo: 'acme/api', headSha: latest!.sha, sender }));
  assert.equal(res.status, 202);
  const again = await eventually(
    () => builds((b) => b.sha === latest!.sha),
    (b) => b.length === count + 1,
  );
  assert.ok(again.some((b) => b.retryOf));
});

test('an installation event for a repository not in server config is logged and ignored', async () => {
  const count = (await builds(() => true)).length;
  const res = await g.gh.deliver('installation_repositories', installationReposPayload({ installationId, account: 'acme', added: ['acme/unknown'] }));
  assert.equal(res.status, 202);
  await g.gh.settled();
  assert.equal((await builds(() => true)).length, count);
});

test('a token is fetched again shortly before GitHub says it expires, without waiting for a 401', async () => {
  const gh = await new FakeGithub().start();
  try {
    gh.app = { id: appId, publicKey: (await import('node:crypto')).createPublicKey(publicKey), installations: { acme: installationId }, tokenTtlSec: 3600 };
    gh.addRepo('acme/api', '/nonexistent');
    let now = Date.now();
    const tokens = new AppTokens({ appId, privateKey, baseUrl: gh.url, marginSec: 300 }, silentLogger(), () => now);
    const client = new GithubClient({ baseUrl: gh.url, tokens, maxRetryAfterSec: 5 }, silentLogger());
    const status = { state: 'success' as const, context: 'bosun/test', description: 'ok' };
    await client.createCommitStatus({ owner: 'acme', repo: 'api' }, 'a'.repeat(40), status);
    now += (3600 - 600) * 1000;
    await client.createCommitStatus({ owner: 'acme', repo: 'api' }, 'a'.repeat(40), status);
    assert.equal(gh.requests.filter((r) => r.path.endsWith('/access_tokens')).length, 1, 'still valid: cached');
    now += 301 * 1000;
    await client.createCommitStatus({ owner: 'acme', repo: 'api' }, 'a'.repeat(40), status);
    assert.equal(gh.requests.filter((r) => r.path.endsWith('/access_tokens')).length, 2, 'within the margin: fetched again');
    assert.equal(gh.requests.filter((r) => r.status === 401).length, 0);
  } finally {
    await gh.stop();
  }
});

test('config: the App key comes from GITHUB_PRIVATE_KEY(_FILE); a token and an App together are refused', () => {
  const keyFile = join(process.env.TMPDIR ?? '/tmp', `bosun-app-key-env-${process.pid}.pem`);
  writeFileSync(keyFile, privateKey, { mode: 0o600 });
  const base = { GITHUB_WEBHOOK_SECRET: 's3cret', GITHUB_APP_ID: '4242', BOSUN_DATA_DIR: join(process.env.TMPDIR ?? '/tmp', 'bosun-cfg') };
  const fromFile = loadConfig({ ...base, GITHUB_PRIVATE_KEY_FILE: keyFile });
  assert.equal(fromFile.github?.app?.appId, 4242);
  assert.equal(fromFile.github?.app?.privateKey, privateKey.replace(/\n$/, ''));
  assert.throws(() => loadConfig({ ...base, GITHUB_PRIVATE_KEY: 'not a key' }), /not a PEM RSA private key/);
  assert.throws(() => loadConfig({ ...base, GITHUB_PRIVATE_KEY_FILE: keyFile, GITHUB_TOKEN: 'ghp_x' }), /either token .* or app/);
  assert.throws(
    () => loadConfig({ GITHUB_WEBHOOK_SECRET: 's3cret', GITHUB_APP_ID: '4242', BOSUN_DATA_DIR: base.BOSUN_DATA_DIR }),
    /privateKey or privateKeyFile/,
  );
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { Ajv } from 'ajv';
import { createAppAuth } from '@octokit/auth-app';
import { makeRepo } from '../support/git-repo.js';
import { git } from '../../src/git/git.js';
import { silentLogger } from '../../src/logger.js';
import { AppTokens } from '../../src/github/app-tokens.js';
import { GithubClient } from '../../src/github/github-client.js';
import { FakeGithub } from '../fakes/fake-github.js';
import {
  checkRunPayload,
  checkSuiteRerequestedPayload,
  installationReposPayload,
  issueCommentPayload,
  pullRequestPayload,
  pushPayload,
  requestedActionPayload,
} from '../fakes/fake-github-payloads.js';
import { GithubOpenApi } from './openapi-schemas.js';

/**
 * The fake GitHub against GitHub's own descriptions: every route it answered must exist in
 * the REST API description (@octokit/openapi, api.github.com) with that method and status,
 * and its JSON must validate against the documented schema; the webhook payloads tests send
 * must validate against @octokit/webhooks-schemas. The fake cannot drift from the real service
 * without this failing.
 */
const { privateKey, publicKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
});
const appId = 31337;
const r = { owner: 'acme', repo: 'api' };
const user = { id: 101, login: 'dev' };

let api: GithubOpenApi;
let gh: FakeGithub;
let root: string;

before(async () => {
  api = new GithubOpenApi();
  root = await mkdtemp(join(tmpdir(), 'bosun-gh-contract-'));
  gh = await new FakeGithub().start();
  gh.app = { id: appId, publicKey: createPublicKey(publicKey), installations: { acme: 5 }, tokenTtlSec: 3600 };
});
after(async () => {
  await gh?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

/** Drives every route Bosun uses, in the ways Bosun uses them (success and the refusals it handles). */
async function exerciseFake(): Promise<void> {
  const repo = await makeRepo(root, 'api', { 'a.txt': 'a' });
  gh.addRepo('acme/api', repo.dir);
  const base = await gh.rev('acme/api', 'refs/heads/master');
  await git(['checkout', '-q', '-B', 'feature', 'master'], { cwd: repo.dir });
  const head = await repo.commit({ 'b.txt': 'b' });
  await git(['checkout', '-q', '-B', 'other', 'master'], { cwd: repo.dir });
  const other = await repo.commit({ 'c.txt': 'c' });
  await git(['checkout', '-q', '--detach'], { cwd: repo.dir });
  gh.addPull('acme/api', { number: 1, headRef: 'feature', baseRef: 'master', user });
  await gh.addReview('acme/api', 1, { id: 202, login: 'reviewer' }, 'APPROVED');

  const tokens = new AppTokens({ appId, privateKey, baseUrl: gh.url, marginSec: 300 }, silentLogger());
  const client = new GithubClient({ baseUrl: gh.url, tokens, maxRetryAfterSec: 5 }, silentLogger());
  await client.createCommitStatus(r, head, { state: 'pending', context: 'bosun/test', description: 'running', targetUrl: 'http://bosun.test/builds/1' });
  const id = await client.createCheckRun(r, { name: 'bosun/test', headSha: head, externalId: '1/test', detailsUrl: 'http://bosun.test/builds/1' });
  await client.updateCheckRun(r, id, {
    conclusion: 'failure',
    title: 'test: failed',
    summary: 'Step `unit` failed',
    annotations: [{ path: 'src/a.ts', start_line: 3, end_line: 3, start_column: 5, end_column: 5, annotation_level: 'failure', message: 'TS2322' }],
    actions: [{ label: 'Re-run failed', description: 'Run the failed steps again', identifier: 'rerun-failed' }],
  });
  assert.equal(await client.getRef(r, 'heads/master'), base);
  assert.equal(await client.getRef(r, 'heads/nope'), null);
  assert.equal(await client.compare(r, base, head), 'ahead');
  assert.equal(await client.compare(r, head, other), 'diverged');
  assert.equal((await client.getPull(r, 1)).headSha, head);
  assert.equal((await client.listReviews(r, 1))[0]?.commitId, head);
  await client.createComment(r, 1, 'hello');
  assert.equal(await client.fastForwardRef(r, 'heads/master', head), true);
  assert.equal(await client.fastForwardRef(r, 'heads/master', other), false);
  await client.createRef(r, 'heads/production', base);
  await assert.rejects(client.createRef(r, 'heads/production', base));
  // An expired token: the 401 is answered and the call made again.
  gh.expireInstallationTokens();
  await client.createCommitStatus(r, head, { state: 'success', context: 'bosun/test', description: 'ok' });
  // The App's own listing, with its JWT.
  const { token: jwt } = await createAppAuth({ appId, privateKey })({ type: 'app' });
  const res = await fetch(`${gh.url}/app/installations`, { headers: { authorization: `bearer ${jwt}`, accept: 'application/vnd.github+json' } });
  assert.equal(res.status, 200);
}

test("every route the fake answers is GitHub's, with a documented status and a body that validates against GitHub's schema", async () => {
  await exerciseFake();
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const req of gh.requests) {
    const path = req.path.split('?')[0]!;
    const op = api.find(req.method, path);
    if (!op) {
      problems.push(`${req.method} ${path}: no such route in api.github.com`);
      continue;
    }
    seen.add(`${op.method} ${op.template} ${req.status}`);
    // GitHub answers 401 "Bad credentials" on any route; its description documents it on few.
    const validate = req.status === 401 ? api.schema('basic-error') : api.responseValidator(op, req.status);
    if (validate === undefined) {
      problems.push(`${req.method} ${op.template}: status ${req.status} is not documented`);
      continue;
    }
    if (validate && !validate(req.response)) {
      problems.push(
        `${req.method} ${op.template} ${req.status}: ${JSON.stringify(validate.errors?.map((e) => `${e.instancePath} ${e.schemaPath} ${e.message}`))}`,
      );
    }
  }
  assert.deepEqual(problems, []);
  for (const expected of [
    'POST /repos/{owner}/{repo}/statuses/{sha} 201',
    'POST /repos/{owner}/{repo}/check-runs 201',
    'PATCH /repos/{owner}/{repo}/check-runs/{check_run_id} 200',
    'GET /repos/{owner}/{repo}/git/ref/{ref} 200',
    'GET /repos/{owner}/{repo}/git/ref/{ref} 404',
    'GET /repos/{owner}/{repo}/compare/{basehead} 200',
    'GET /repos/{owner}/{repo}/pulls/{pull_number} 200',
    'GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews 200',
    'POST /repos/{owner}/{repo}/issues/{issue_number}/comments 201',
    'PATCH /repos/{owner}/{repo}/git/refs/{ref} 200',
    'PATCH /repos/{owner}/{repo}/git/refs/{ref} 422',
    'POST /repos/{owner}/{repo}/git/refs 201',
    'POST /repos/{owner}/{repo}/git/refs 422',
    'GET /repos/{owner}/{repo}/installation 200',
    'POST /app/installations/{installation_id}/access_tokens 201',
    'GET /app/installations 200',
    'POST /repos/{owner}/{repo}/statuses/{sha} 401',
  ]) {
    assert.ok(seen.has(expected), `the fake was exercised on ${expected}`);
  }
});

test('the check is not vacuous: a check run without head_sha or with an unknown status, and a route GitHub lacks, are refused', () => {
  const op = api.find('PATCH', '/repos/acme/api/check-runs/1')!;
  const validate = api.responseValidator(op, 200)!;
  const run = gh.requests.find((q) => q.method === 'PATCH' && q.path.includes('/check-runs/'))!.response as Record<string, unknown>;
  assert.equal(validate(run), true);
  const { head_sha: _drop, ...withoutSha } = run;
  assert.equal(validate(withoutSha), false);
  assert.equal(validate({ ...run, status: 'finished' }), false);
  assert.equal(api.find('GET', '/repos/acme/api/no-such-thing'), undefined);
});

test('webhook payloads the tests send validate against @octokit/webhooks-schemas', () => {
  const schema = createRequire(import.meta.url)('@octokit/webhooks-schemas/schema.json') as object;
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addSchema(schema, 'webhooks');
  const sha = 'b'.repeat(40);
  const cases: [string, unknown][] = [
    ['push$event', pushPayload({ repo: 'acme/api', ref: 'refs/heads/master', after: sha, sender: user })],
    ['pull_request$opened', pullRequestPayload({ action: 'opened', repo: 'acme/api', number: 3, headSha: sha, headRef: 'feature', user })],
    [
      'pull_request$synchronize',
      {
        ...pullRequestPayload({ action: 'synchronize', repo: 'acme/api', number: 3, headSha: sha, headRef: 'feature', user }),
        before: 'a'.repeat(40),
        after: sha,
      },
    ],
    ['issue_comment$created', issueCommentPayload({ repo: 'acme/api', number: 3, body: '/ci merge acme/api#3', user })],
    ['check_run$rerequested', checkRunPayload({ repo: 'acme/api', headSha: sha, sender: user })],
    [
      'check_run$requested_action',
      requestedActionPayload({
        repo: 'acme/api',
        checkRun: { id: 9, name: 'bosun/test', head_sha: sha, external_id: '1/test' },
        identifier: 'rerun-failed',
        sender: user,
      }),
    ],
    ['check_suite$rerequested', checkSuiteRerequestedPayload({ repo: 'acme/api', headSha: sha, sender: user })],
    ['installation_repositories$added', installationReposPayload({ installationId: 5, account: 'acme', added: ['acme/unknown'] })],
  ];
  const problems: string[] = [];
  for (const [name, payload] of cases) {
    const validate = ajv.getSchema(`webhooks#/definitions/${name}`);
    assert.ok(validate, `schema ${name}`);
    if (!validate(payload)) problems.push(`${name}: ${JSON.stringify(validate.errors?.map((e) => `${e.instancePath} ${e.message}`))}`);
  }
  assert.deepEqual(problems, []);
});

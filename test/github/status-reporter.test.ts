import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type TestRedis } from '../support/redis-server.js';
import { silentLogger } from '../../src/logger.js';
import type { Build, StageRun } from '../../src/domain/build.js';
import type { StoredEvent } from '../../src/domain/build-event.js';
import type { RunStatus } from '../../src/domain/status.js';
import { makeStatusReporter, type StatusClient } from '../../src/github/status-reporter.js';
import { GithubClient } from '../../src/github/github-client.js';
import { FakeGithub } from '../fakes/fake-github.js';

let redis: TestRedis;
let gh: FakeGithub;
before(async () => {
  redis = await startRedis();
  gh = await new FakeGithub().start();
  gh.addRepo('acme/api', '/nonexistent');
});
after(async () => {
  await gh?.stop();
  await redis?.stop();
});

const sha = 'a'.repeat(40);

function snapshot(id: string, status: RunStatus, attempt = 1, steps: StageRun['steps'] = []): Build {
  return {
    id,
    repo: 'acme/api',
    ref: 'feature',
    sha,
    attempt,
    version: 1,
    createdAt: '',
    status,
    trigger: { event: 'pull_request', source: 'github', actor: { id: 'github:1', name: 'dev' } },
    stages: [{ name: 'test', status, needs: [], labels: [], resources: [], steps }],
  };
}

function recorder(): StatusClient & {
  posted: { context: string; state: string; description: string }[];
  checks: Map<number, { conclusion?: string; summary: string }>;
} {
  const posted: { context: string; state: string; description: string }[] = [];
  const checks = new Map<number, { conclusion?: string; summary: string }>();
  return {
    posted,
    checks,
    async createCommitStatus(_r, _sha, s) {
      posted.push({ context: s.context, state: s.state, description: s.description });
    },
    async createCheckRun() {
      checks.set(checks.size + 1, { summary: '' });
      return checks.size;
    },
    async updateCheckRun(_r, id, c) {
      checks.set(id, { ...(c.conclusion ? { conclusion: c.conclusion } : {}), summary: c.summary });
    },
  };
}

function reporterWith(
  client: StatusClient,
  prefix: string,
  byEvent: Map<string, Build>,
  checkRuns = false,
  tail = async () => [] as { n: number; text: string }[],
) {
  let current = '';
  const handler = makeStatusReporter({
    client,
    redis: redis.client(),
    prefix,
    log: silentLogger(),
    checkRuns,
    tail,
    getBuild: async () => byEvent.get(current) ?? null,
    isGithubRepo: () => true,
    buildUrl: (id) => `http://bosun.test/builds/${id}`,
  });
  return async (eventId: string) => {
    current = eventId;
    await handler.handle({
      id: eventId,
      at: '',
      type: 'stage.status',
      buildId: byEvent.get(eventId)!.id,
      stage: 'test',
      status: 'running',
      previous: 'queued',
    } as StoredEvent);
  };
}

test('shuffled and stale events never turn success back into pending', async () => {
  const client = recorder();
  const states = new Map<string, Build>([
    ['1-0', snapshot('7', 'queued')],
    ['2-0', snapshot('7', 'running')],
    ['3-0', snapshot('7', 'success')],
  ]);
  const handle = reporterWith(client, 'shuffle', states);

  for (const id of ['3-0', '1-0', '2-0', '3-0', '1-0']) await handle(id);

  assert.deepEqual(
    client.posted.map((p) => p.state),
    ['success'],
  );
});

test('a newer build or a retry of the same commit may report again', async () => {
  const client = recorder();
  const states = new Map<string, Build>([
    ['1-0', snapshot('7', 'failed')],
    ['2-0', snapshot('7', 'running', 2)],
    ['3-0', snapshot('9', 'queued')],
    ['4-0', snapshot('7', 'success', 2)],
  ]);
  const handle = reporterWith(client, 'retry', states);

  for (const id of ['1-0', '2-0', '3-0', '4-0']) await handle(id);

  assert.deepEqual(
    client.posted.map((p) => p.state),
    ['failure', 'pending', 'pending'],
  );
});

test('unchanged states are written once, not once per event', async () => {
  const client = recorder();
  const states = new Map<string, Build>(Array.from({ length: 50 }, (_, i) => [`${i}-0`, snapshot('3', 'running')] as const));
  const handle = reporterWith(client, 'once', states);

  for (const id of states.keys()) await handle(id);

  assert.equal(client.posted.length, 1);
});

test("a failed stage's check run carries the failing step's last 20 lines", async () => {
  const client = recorder();
  const step = {
    name: 'unit',
    status: 'failed' as const,
    image: 'any',
    runs: 1,
    exitCode: 3,
    plan: { name: 'unit', image: 'any', commands: [], env: {}, timeoutSec: 60, workdir: '.' },
  };
  const states = new Map<string, Build>([['1-0', snapshot('4', 'failed', 1, [step])]]);
  const lines = Array.from({ length: 30 }, (_, i) => ({ n: i + 1, text: `line ${i + 1}` }));
  const handle = reporterWith(client, 'checks', states, true, async () => lines.slice(-20));

  await handle('1-0');

  const run = client.checks.get(1)!;
  assert.equal(run.conclusion, 'failure');
  assert.match(run.summary, /Step `unit` failed \(exit 3\)/);
  assert.ok(run.summary.includes('line 30') && run.summary.includes('line 11') && !run.summary.includes('line 10\n'));
});

test('a 429 or 403 with Retry-After is waited out and the status still lands', async () => {
  const client = new GithubClient({ baseUrl: gh.url, token: 't', maxRetryAfterSec: 5 }, silentLogger());
  gh.failNext(/statuses/, 429, { 'retry-after': '1' });
  gh.failNext(/statuses/, 403, { 'retry-after': '1' });
  const started = Date.now();

  await client.createCommitStatus({ owner: 'acme', repo: 'api' }, sha, { state: 'success', context: 'bosun/test', description: 'ok' });

  assert.ok(Date.now() - started >= 2000, 'waited twice for Retry-After');
  assert.deepEqual(
    gh.requests.filter((r) => r.path.includes('/statuses/')).map((r) => r.status),
    [429, 403, 201],
  );
  assert.equal(gh.latest('acme/api', sha)['bosun/test'], 'success');
});

test('a rate limit longer than the budget is given up on, as an error the bus logs', async () => {
  const client = new GithubClient({ baseUrl: gh.url, token: 't', maxRetryAfterSec: 5 }, silentLogger());
  gh.failNext(/statuses/, 429, { 'retry-after': '3600' });

  await assert.rejects(client.createCommitStatus({ owner: 'acme', repo: 'api' }, sha, { state: 'pending', context: 'bosun/x', description: 'x' }));
});

test('an invalid spec: the status shows the count and the first error in 140 characters, the check run lists every one', async () => {
  const client = recorder();
  const lines = [
    'bosun.yml:5:15 stages.release.secrets[0]: secret `PROD_KEY` is not granted to this repository (server config repos.acme/api.secrets does not list it)',
    'bosun.yml:8:5 stages.release.deploy: not supported yet',
    'bosun.yml:9:5 stages.release.publish: not supported yet',
  ];
  const failed: Build = {
    ...snapshot('9', 'failed'),
    stages: [],
    error: { code: 'spec_invalid', message: ['3 problems in the build spec:', ...lines].join('\n'), details: lines },
  };
  const handle = reporterWith(client, 'spec-errors', new Map([['1-0', failed]]), true);

  await handle('1-0');

  assert.equal(client.posted.length, 1);
  assert.equal(client.posted[0]!.context, 'bosun');
  assert.equal(client.posted[0]!.state, 'failure');
  assert.ok(client.posted[0]!.description.length <= 140);
  assert.match(client.posted[0]!.description, /^3 problems in the build spec; first: bosun\.yml:5:15 stages\.release\.secrets\[0\]: secret `PROD_KEY`.*…$/);
  const [check] = [...client.checks.values()];
  assert.equal(check?.conclusion, 'failure');
  for (const line of lines) assert.ok(check?.summary.includes(line), `the check run lists ${line}`);
});

test("a failed stage's commit status names the step and why it ended: out of memory, with the limit", async () => {
  const client = recorder();
  const step = {
    name: 'mem',
    status: 'failed' as const,
    image: 'any',
    runs: 1,
    exitCode: 137,
    reason: 'oom',
    detail: 'limit 512 MiB',
    plan: { name: 'mem', image: 'any', commands: [], env: {}, timeoutSec: 60, workdir: '.' },
  };
  const states = new Map<string, Build>([['1-0', snapshot('5', 'failed', 1, [step])]]);
  const handle = reporterWith(client, 'oom', states);

  await handle('1-0');

  assert.deepEqual(client.posted, [{ context: 'bosun/test', state: 'failure', description: 'test: failed — step mem: out of memory (limit 512 MiB)' }]);
});

test('a stage that published says so on its commit status, an image by its digest; a failed publish says why', async () => {
  const client = recorder();
  const digest = `sha256:${'d'.repeat(64)}`;
  const published = snapshot('6', 'success');
  published.published = [
    { kind: 'docker', stage: 'test', image: 'registry.example/acme/api', tag: sha, digest, ref: `registry.example/acme/api@${digest}`, publishedAt: '' },
  ];
  const refused = snapshot('7', 'failed');
  refused.stages[0]!.publishError = 'registry registry.example: authentication refused';
  const handle = reporterWith(
    client,
    'published',
    new Map([
      ['1-0', published],
      ['2-0', refused],
    ]),
  );

  await handle('1-0');
  await handle('2-0');

  assert.deepEqual(
    client.posted.map((p) => p.description),
    [`test: success — published ${digest}`, 'test: failed — registry registry.example: authentication refused'],
  );
});

test('a check run with 120 annotations reaches GitHub in requests of at most 50, with the failing tests and a Re-run failed button', async () => {
  const client = new GithubClient({ baseUrl: gh.url, token: 't', maxRetryAfterSec: 5 }, silentLogger());
  const step = {
    name: 'tsc',
    status: 'failed' as const,
    image: 'any',
    runs: 1,
    exitCode: 2,
    plan: { name: 'tsc', image: 'any', commands: [], env: {}, timeoutSec: 60, workdir: 'web' },
  };
  const build = snapshot('12', 'failed', 1, [step]);
  build.stages[0]!.tests = {
    total: 3,
    failed: 1,
    errors: 0,
    skipped: 0,
    files: ['junit.xml'],
    failures: [{ name: 'suite.adds', message: 'expected 2', file: 'test/add.test.ts', line: 4 }],
  };
  const lines = Array.from({ length: 119 }, (_, i) => ({ n: i + 1, text: `src/a.ts(${i + 1},1): error TS2322: bad` }));
  const before = gh.requests.length;
  const handle = reporterWith(client, 'batches', new Map([['1-0', build]]), true, async () => lines);

  await handle('1-0');

  const run = [...gh.checkRuns.values()].at(-1)!;
  assert.equal(run.conclusion, 'failure');
  assert.equal(run.annotations.length, 120);
  assert.deepEqual(
    run.annotations.slice(0, 2).map((a) => `${a.path}:${a.start_line}`),
    ['test/add.test.ts:4', 'web/src/a.ts:1'],
  );
  const patches = gh.requests.slice(before).filter((r) => r.method === 'PATCH' && r.path.includes('/check-runs/'));
  assert.deepEqual(
    patches.map((p) => p.body.output.annotations.length),
    [50, 50, 20],
  );
  assert.ok(patches.every((p) => p.status === 200));
  assert.match(run.output!.summary, /1 failed/);
  assert.match(run.output!.summary, /`suite\.adds` \(test\/add\.test\.ts:4\): expected 2/);
  assert.deepEqual(
    run.actions.map((a) => a.label),
    ['Re-run failed'],
  );
});

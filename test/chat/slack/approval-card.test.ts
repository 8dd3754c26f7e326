import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, type TestRedis } from '../../support/redis-server.js';
import { makeRepo } from '../../support/git-repo.js';
import { git } from '../../../src/git/git.js';
import { GitMirrors } from '../../../src/git/git-mirrors.js';
import { commitRange, githubCompareUrl, maxRangeCommits } from '../../../src/git/commit-range.js';
import { approvalFacts, type ApprovalFactsDeps } from '../../../src/chat/approval-facts.js';
import { silentLogger } from '../../../src/logger.js';
import type { Build, StageRun } from '../../../src/domain/build.js';
import type { Deploy } from '../../../src/domain/deploy.js';
import type { StoredEvent } from '../../../src/domain/build-event.js';
import type { SlackApi } from '../../../src/chat/slack/slack-api.js';
import { ThreadReporter } from '../../../src/chat/slack/thread-reporter.js';
import { ThreadStore } from '../../../src/chat/slack/thread-store.js';
import { LiveLog } from '../../../src/chat/slack/live-log.js';
import { RateLimiter } from '../../../src/chat/slack/rate-limiter.js';
import { renderCheckpoint } from '../../../src/chat/slack/render-build.js';

// The approval card shows what is approved: environment, the commits since what runs there
// (read from a real git repository through the mirror), the gating stages' results, and a
// confirm dialog on the buttons where the environment has approvers.

let redis: TestRedis;
let root: string;
let repo: Awaited<ReturnType<typeof makeRepo>>;
const shas: string[] = [];
before(async () => {
  redis = await startRedis();
  root = await mkdtemp(join(tmpdir(), 'bosun-approval-card-'));
  repo = await makeRepo(root, 'api', { 'README.md': 'api\n' });
  shas.push((await git(['rev-parse', 'HEAD'], { cwd: repo.dir })).trim()); // what production runs
  const commitAs = async (author: string, title: string) => {
    await git(['commit', '-q', '--allow-empty', `--author=${author}`, '-m', title], { cwd: repo.dir });
    shas.push((await git(['rev-parse', 'HEAD'], { cwd: repo.dir })).trim());
  };
  for (let i = 1; i <= 6; i++) {
    await commitAs(i % 2 ? 'Alice <a@example.invalid>' : 'Bob <b@example.invalid>', `change ${i}`);
    if (i === 3) await commitAs('Mallory & Co <m@example.invalid>', 'Add the <!channel> gate <https://evil.example|click>');
  }
});
after(async () => {
  await redis?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

const config = () => ({ repos: { 'acme/api': { url: repo.url, defaultBranch: 'master', secrets: [] } } }) as never;
const actor = { id: 'slack:T1/UASK', name: 'asker' };
const t0 = '2026-12-06T09:00:00.000Z';
const stage = (name: string, status: StageRun['status'], secs: number, tests?: StageRun['tests']): StageRun => {
  const times = { startedAt: t0, finishedAt: new Date(Date.parse(t0) + secs * 1000).toISOString() };
  return {
    name,
    status,
    needs: [],
    labels: [],
    resources: [],
    ...times,
    steps: [{ name: 'run', status, image: 'x', plan: {} as never, runs: 1, ...times }],
    ...(tests ? { tests } : {}),
  };
};
/** A stage waiting at its checkpoint: its steps passed, the stage has not ended. */
const waitingStage = (name: string, secs: number): StageRun => {
  const ran = stage(name, 'success', secs);
  return { ...ran, status: 'waiting', finishedAt: undefined as never };
};

function deployScenario() {
  const head = shas[shas.length - 1]!;
  const deployed: Build = {
    id: '40',
    repo: 'acme/api',
    ref: 'master',
    sha: head,
    status: 'success',
    attempt: 1,
    version: 1,
    createdAt: '2026-12-06T08:00:00Z',
    trigger: { event: 'push', source: 'github', actor },
    stages: [
      stage('unit', 'success', 12, { total: 40, failed: 0, errors: 0, skipped: 0, failures: [], files: [] }),
      stage('e2e', 'failed', 185, { total: 12, failed: 2, errors: 0, skipped: 0, failures: [], files: [] }),
    ],
  };
  const approval: Build = {
    id: '41',
    repo: 'acme/api',
    ref: 'master',
    sha: head,
    status: 'waiting',
    attempt: 1,
    version: 1,
    createdAt: '2026-12-06T09:00:00Z',
    specPath: '(deploy)',
    trigger: { event: 'manual', source: 'slack', actor, chat: { platform: 'slack', channel: 'CDEV' } },
    stages: [
      {
        name: 'deploy-production',
        status: 'waiting',
        needs: [],
        labels: [],
        resources: [],
        steps: [],
        checkpoint: { instructions: 'Deploy acme/api', checklist: [], timeoutSec: 60, approvers: 'release', kind: 'approval' },
      },
    ],
  };
  const base = {
    repo: 'acme/api',
    image: 'r/api',
    digest: 'sha256:' + 'b'.repeat(64),
    ref: 'r/api@sha256:' + 'b'.repeat(64),
    kind: 'deploy' as const,
    requestedBy: actor,
    source: 'slack',
    approvals: [],
    createdAt: '2026-12-06T07:00:00Z',
    version: 1,
  };
  const current: Deploy = { ...base, id: '3', environment: 'production', buildId: '30', sha: shas[0]!, state: 'succeeded' };
  const pending: Deploy = { ...base, id: '4', environment: 'production', buildId: '40', sha: head, state: 'awaiting_approval', approvalBuildId: '41' };
  const mirrors = new GitMirrors(join(root, 'mirrors'));
  const deps: ApprovalFactsDeps = {
    builds: { get: async (id) => (({ 40: deployed, 41: approval }) as Record<string, Build>)[id] ?? null, list: async () => [approval, deployed] },
    deploys: {
      deployForApproval: async (id) => (id === '41' ? '4' : null),
      get: async (id) => (({ 3: current, 4: pending }) as Record<string, Deploy>)[id] ?? null,
      history: async () => [pending, current],
    },
    hasApprovers: (env) => env === 'production',
    range: (r, b, h) => commitRange(config(), mirrors, r, b, h),
  };
  return { approval, deployed, deps };
}

function recordingApi(posts: Record<string, any>[]): SlackApi {
  let n = 0;
  return {
    chat: {
      postMessage: async (args) => (posts.push(args), { ts: `1.${++n}`, channel: args.channel }),
      update: async () => undefined,
      postEphemeral: async () => undefined,
    },
    conversations: { open: async () => ({ channel: { id: 'D1' } }) },
    filesUploadV2: async () => undefined,
  };
}

const sectionTexts = (m: { blocks?: any[] }) => (m.blocks ?? []).filter((b) => b.type === 'section').map((b) => b.text.text as string);
const buttonsOf = (m: { blocks?: any[] }) => (m.blocks ?? []).find((b) => b.type === 'actions')?.elements as any[];

test('a deploy approval card to production: environment, commits since what runs there (escaped), gate results, a confirm dialog on both buttons', async () => {
  const { approval, deps } = deployScenario();
  const posts: Record<string, any>[] = [];
  const api = recordingApi(posts);
  const store = new ThreadStore(redis.client(), 'approvalcard1');
  const logs = { tail: async () => [], read: async () => [] };
  const reporter = new ThreadReporter({
    api,
    store,
    logs,
    builds: { get: async (id) => (id === '41' ? approval : null) },
    config: { channels: {}, dmRequester: 'never', approverChannels: { release: { channel: 'CREL' } } },
    groups: { release: ['slack:T1/UREL'] },
    buildUrl: (id) => `https://ci.example/builds/${id}`,
    approvalFacts: (b, s) => approvalFacts(b, s, deps),
    log: silentLogger(),
    liveLog: new LiveLog({ api, store, logs, limiter: new RateLimiter(6000), intervalMs: 10, log: silentLogger() }),
  });
  await reporter.handle({
    id: '1-1',
    at: '2026-12-06T09:00:00Z',
    type: 'checkpoint.waiting',
    buildId: '41',
    stage: 'deploy-production',
    instructions: 'Deploy acme/api',
    checklist: [],
    approvers: 'release',
    deadline: '2026-12-07T09:00:00Z',
  } as unknown as StoredEvent);
  const cards = posts.filter((p) => (p.blocks ?? []).some((b: any) => String(b.block_id).startsWith('checkpoint:')));
  assert.deepEqual(
    cards.map((c) => c.channel),
    ['CREL', 'CDEV'],
    "the approvers' copy and the thread's card",
  );
  for (const card of cards) {
    const texts = sectionTexts(card);
    const all = texts.join('\n');
    process.stderr.write(`deploy card:\n${all}\n`);
    assert.match(all, /\*Repository\* acme\/api#master · \*Environment\* production · \*Commit\* `[0-9a-f]{7}`/);
    assert.match(all, /\*7 commits\* since what runs in production \(deploy #3\) by Bob, Alice, Mallory &amp; Co/);
    assert.match(all, /• `[0-9a-f]{7}` change 6 — Bob/);
    assert.match(all, /• `[0-9a-f]{7}` Add the &lt;!channel&gt; gate &lt;https:\/\/evil\.example\|click&gt; — Mallory &amp; Co\n/);
    assert.match(all, /\nand 2 more(\n|$)/, 'five titles, then the rest counted');
    assert.doesNotMatch(all, /<!channel>|<!here>|<https:\/\/evil/, 'hostile titles are escaped');
    assert.match(all, /\*Gates\* \(build #40\): :white_check_mark: unit success 12s, 40 tests passed · :x: e2e failed 3m 05s, 2 failing tests of 12/);
    assert.match(all, /\*Asked by\* <@UASK>/);
    assert.match(all, /<https:\/\/ci\.example\/builds\/41\|build #41>/);
    assert.match(all, /Deadline: <!date\^\d+\^/);
    for (const b of buttonsOf(card)) {
      assert.deepEqual(Object.keys(b.confirm).sort(), ['confirm', 'deny', 'text', 'title'].concat(b.text.text === 'Reject' ? ['style'] : []).sort());
      for (const k of ['title', 'text', 'confirm', 'deny']) assert.equal(b.confirm[k].type, 'plain_text');
      assert.ok(
        b.confirm.title.text.length <= 100 && b.confirm.text.text.length <= 300 && b.confirm.confirm.text.length <= 30 && b.confirm.deny.text.length <= 30,
      );
      assert.match(b.confirm.text.text, new RegExp(`^${b.text.text} acme/api to production`));
    }
  }
});

test("a plain checkpoint card: commits since the branch's previous successful build, its own gating stages, no confirm dialog", async () => {
  const mirrors = new GitMirrors(join(root, 'mirrors-plain'));
  const prev: Build = {
    id: '20',
    repo: 'acme/api',
    ref: 'master',
    sha: shas[4]!,
    status: 'success',
    attempt: 1,
    version: 1,
    createdAt: '2026-12-06T08:00:00Z',
    trigger: { event: 'push', source: 'github', actor },
    stages: [],
  };
  const build: Build = {
    id: '21',
    repo: 'acme/api',
    ref: 'master',
    sha: shas[6]!,
    status: 'waiting',
    attempt: 1,
    version: 1,
    createdAt: '2026-12-06T09:00:00Z',
    trigger: { event: 'push', source: 'slack', actor },
    stages: [stage('lint', 'success', 2), { ...waitingStage('test', 30), needs: ['lint'] }, { ...stage('later', 'pending', 0), needs: ['test'] }],
  };
  const other: Build = { ...prev, id: '19', ref: 'feature', sha: shas[0]! };
  const deps: ApprovalFactsDeps = {
    builds: { get: async () => null, list: async () => [build, prev, other] },
    hasApprovers: () => true,
    range: (r, b, h) => commitRange(config(), mirrors, r, b, h),
  };
  const facts = await approvalFacts(build, 'test', deps);
  const card = renderCheckpoint(
    { buildId: '21', stage: 'test', instructions: 'Try it', checklist: [], approvers: 'qa', deadline: '2026-12-07T09:00:00Z' },
    false,
    { build, facts },
  );
  const all = sectionTexts(card).join('\n');
  assert.match(all, /\*2 commits\* since build #20, the previous successful build of master by Alice, Bob/);
  assert.doesNotMatch(all, /Environment|and \d+ more/);
  assert.match(all, /\*Gates\* \(build #21\): :white_check_mark: lint success 2s · :white_check_mark: test steps passed 30s$/m);
  assert.ok(
    buttonsOf(card).every((b) => !('confirm' in b)),
    'no confirm dialog outside production-like environments',
  );
});

test("a huge range stays within Slack's limits; the range reads at most 50 commits; GitHub repositories get a compare link", async () => {
  const big = await makeRepo(root, 'big', { 'a.txt': 'a\n' });
  const base = (await git(['rev-parse', 'HEAD'], { cwd: big.dir })).trim();
  for (let i = 0; i < 60; i++)
    await git(['commit', '-q', '--allow-empty', `--author=Dev${i} <d@example.invalid>`, '-m', `${'x'.repeat(400)} ${i}`], { cwd: big.dir });
  const head = (await git(['rev-parse', 'HEAD'], { cwd: big.dir })).trim();
  const range = await commitRange(
    { repos: { big: { url: big.url, defaultBranch: 'master', secrets: [] } } } as never,
    new GitMirrors(join(root, 'mirrors-big')),
    'big',
    base,
    head,
  );
  assert.ok(range);
  assert.equal(range.total, 60);
  assert.equal(range.commits.length, maxRangeCommits);
  const build = { id: '9', repo: 'big', ref: 'master', sha: head, trigger: { event: 'push', source: 'cli', actor } } as Build;
  const card = renderCheckpoint(
    {
      buildId: '9',
      stage: 's',
      instructions: 'y'.repeat(5000),
      checklist: Array.from({ length: 200 }, (_, i) => `item ${i} ${'z'.repeat(50)}`),
      approvers: 'qa',
      deadline: '2026-12-07T09:00:00Z',
    },
    true,
    {
      build,
      facts: {
        productionLike: true,
        environment: 'production',
        range,
        gates: Array.from({ length: 80 }, (_, i) => stage(`stage-${i}-${'n'.repeat(40)}`, 'success', 3)),
      },
    },
  );
  assert.ok(card.blocks!.length <= 50);
  for (const t of sectionTexts(card)) assert.ok(t.length <= 3000, `section of ${t.length} chars`);
  assert.match(sectionTexts(card).join('\n'), /\*60 commits\*.*\(authors of the newest 50\)/);
  assert.equal(githubCompareUrl('https://github.com/acme/api.git', 'a1', 'b2'), 'https://github.com/acme/api/compare/a1...b2');
  assert.equal(githubCompareUrl('git@github.com:acme/api.git', 'a1', 'b2'), 'https://github.com/acme/api/compare/a1...b2');
  assert.equal(githubCompareUrl('https://gitlab.example/acme/api.git', 'a1', 'b2'), undefined);
});

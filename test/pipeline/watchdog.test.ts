import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type TestRedis } from '../support/redis-server.js';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { BuildStore } from '../../src/storage/build-store.js';
import { watchdogPass, type StageJobInspector } from '../../src/pipeline/watchdog.js';
import type { PipelineDeps, WorkQueue } from '../../src/pipeline/pipeline-deps.js';
import type { Build } from '../../src/domain/build.js';
import type { RunStatus } from '../../src/domain/status.js';
import { EventBus } from '../../src/events/event-bus.js';
import { describeBuild } from '../../commands/describe-build.js';

let redis: TestRedis;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

const staleMs = 10_000;

// What the watchdog does with a queued or running stage, given its job's state and the stage's
// last heartbeat (R17, R20): only a running stage with neither a live job nor a recent beat has
// lost its worker; only a queued stage with no live job is queued again.
const cases: { name: string; stage: RunStatus; job: string; beatAgoMs: number | null; action: string | null; final: RunStatus; finishedAgoMs?: number }[] = [
  {
    name: 'a running stage with a recent heartbeat is left alone, whatever its job',
    stage: 'running',
    job: 'missing',
    beatAgoMs: 1000,
    action: null,
    final: 'running',
  },
  {
    name: 'a running stage whose heartbeat stopped but whose job is active is left alone',
    stage: 'running',
    job: 'active',
    beatAgoMs: 60_000,
    action: null,
    final: 'running',
  },
  {
    name: 'a running stage with no heartbeat and no live job failed for an infrastructure reason',
    stage: 'running',
    job: 'missing',
    beatAgoMs: null,
    action: 'failed',
    final: 'failed_infra',
  },
  {
    name: 'a running stage whose heartbeat stopped and whose job failed failed for an infrastructure reason',
    stage: 'running',
    job: 'failed',
    beatAgoMs: 60_000,
    action: 'failed',
    final: 'failed_infra',
  },
  { name: 'a queued stage whose job waits is left alone', stage: 'queued', job: 'waiting', beatAgoMs: null, action: null, final: 'queued' },
  { name: 'a queued stage whose job is gone is queued again', stage: 'queued', job: 'missing', beatAgoMs: null, action: 'requeued', final: 'queued' },
  {
    name: 'a running build whose last stage ended long ago was never advanced: it is advanced again',
    stage: 'success',
    job: 'missing',
    beatAgoMs: null,
    finishedAgoMs: 60_000,
    action: 'advanced',
    final: 'success',
  },
  {
    name: 'a running build whose last stage just ended is left to its advance',
    stage: 'success',
    job: 'missing',
    beatAgoMs: null,
    finishedAgoMs: 1000,
    action: null,
    final: 'success',
  },
];

let seq = 1;
for (const c of cases) {
  test(c.name, async () => {
    const prefix = `w${seq}`;
    const store = new BuildStore(redis.client(), prefix);
    const build: Build = {
      id: String(seq++),
      repo: 'demo',
      ref: 'master',
      sha: 'a'.repeat(40),
      trigger: { event: 'manual', source: 'cli', actor: { id: 'u', name: 'u' } },
      status: 'running',
      createdAt: new Date().toISOString(),
      attempt: 1,
      version: 0,
      stages: [
        {
          name: 'test',
          status: c.stage,
          needs: [],
          labels: [],
          resources: [],
          ...(c.finishedAgoMs !== undefined ? { finishedAt: new Date(Date.now() - c.finishedAgoMs).toISOString() } : {}),
          steps: [
            {
              name: 'one',
              status: c.stage === 'running' ? 'running' : 'pending',
              image: 'x',
              runs: 0,
              plan: { name: 'one', image: 'x', commands: ['true'], env: {}, timeoutSec: 60 } as never,
            },
          ],
        },
      ],
    };
    await store.create(build, []);
    const queued: string[] = [];
    const queue: WorkQueue = {
      advance: async (id) => void queued.push(`advance ${id}`),
      runStage: async (id, stage) => void queued.push(`stage ${id}/${stage}`),
    };
    const jobs: StageJobInspector = {
      stageJobState: async () => c.job,
      lastHeartbeat: async () => (c.beatAgoMs === null ? null : Date.now() - c.beatAgoMs),
      workersFor: async () => 1,
    };
    const deps = { config: loadConfig({}, {}), store, queue, log: silentLogger() } as unknown as PipelineDeps;

    const actions = await watchdogPass(deps, jobs, staleMs);

    assert.deepEqual(actions, c.action === 'advanced' ? [`advanced ${build.id}`] : c.action ? [`${c.action} ${build.id}/test`] : []);
    assert.equal((await store.require(build.id)).stages[0]!.status, c.final);
    const expectQueued = c.action === 'requeued' ? [`stage ${build.id}/test`] : c.action === 'failed' || c.action === 'advanced' ? [`advance ${build.id}`] : [];
    assert.deepEqual(queued, expectQueued);
  });
}

// A stage whose labels no worker has used to stay `queued` without a word.
const unassigned: { name: string; labels: string[]; workers: number; queuedAgoSec: number; notice: string | undefined }[] = [
  {
    name: 'a stage queued past unassignedWarnSec with no worker for its labels says so',
    labels: ['macos'],
    workers: 0,
    queuedAgoSec: 61,
    notice: 'no worker with the labels macos is running, so this stage waits; start one with `bosun worker --labels macos`',
  },
  {
    name: 'a stage without labels and no worker at all says so too',
    labels: [],
    workers: 0,
    queuedAgoSec: 61,
    notice: 'no worker is running, so this stage waits; start one with `bosun worker`',
  },
  { name: 'a stage with a worker for its labels waits in silence (its worker is busy)', labels: ['macos'], workers: 1, queuedAgoSec: 600, notice: undefined },
  { name: 'a stage queued for less than unassignedWarnSec waits in silence', labels: ['macos'], workers: 0, queuedAgoSec: 30, notice: undefined },
];
for (const c of unassigned) {
  test(c.name, async () => {
    const prefix = `w${seq}`;
    const store = new BuildStore(redis.client(), prefix);
    const startedAt = new Date(Date.now() - c.queuedAgoSec * 1000).toISOString();
    const build: Build = {
      id: String(seq++),
      repo: 'demo',
      ref: 'master',
      sha: 'a'.repeat(40),
      trigger: { event: 'manual', source: 'cli', actor: { id: 'u', name: 'u' } },
      status: 'running',
      createdAt: startedAt,
      startedAt,
      attempt: 1,
      version: 0,
      stages: [{ name: 'mac', status: 'queued', needs: [], labels: c.labels, resources: [], steps: [] }],
    };
    await store.create(build, []);
    const asked: string[][] = [];
    const jobs: StageJobInspector = {
      stageJobState: async () => 'waiting',
      lastHeartbeat: async () => null,
      workersFor: async (labels) => (asked.push(labels), c.workers),
    };
    const queue: WorkQueue = { advance: async () => undefined, runStage: async () => undefined };
    const deps = { config: loadConfig({}, {}), store, queue, log: silentLogger() } as unknown as PipelineDeps;

    const first = await watchdogPass(deps, jobs, staleMs);
    const again = await watchdogPass(deps, jobs, staleMs);

    const stored = await store.require(build.id);
    assert.equal(stored.stages[0]!.notice, c.notice);
    assert.deepEqual(first, c.notice ? [`noticed ${build.id}/mac`] : []);
    assert.deepEqual(again, [], 'said once');
    if (c.notice) {
      const events = await new EventBus(redis.client(), silentLogger(), prefix).range();
      assert.deepEqual(
        events.filter((e) => e.type === 'stage.notice').map((e) => 'text' in e && e.text),
        [c.notice],
      );
      assert.match(describeBuild(stored), new RegExp(`  ◌ mac: queued\\n    ⚠ ${c.notice.replace(/[.*+?^${}()|[\]\\`]/g, '\\$&')}`));
    }
  });
}

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, type TestRedis } from '../support/redis-server.js';
import { FakeExecutor, type ScriptedStep } from '../fakes/fake-executor.js';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { BuildStore } from '../../src/storage/build-store.js';
import { LogStore } from '../../src/logs/log-store.js';
import { watchdogPass, type StageJobInspector } from '../../src/pipeline/watchdog.js';
import type { PipelineDeps, WorkQueue } from '../../src/pipeline/pipeline-deps.js';
import type { Build } from '../../src/domain/build.js';

let redis: TestRedis;
let dataDir: string;
before(async () => {
  redis = await startRedis();
  dataDir = mkdtempSync(join(tmpdir(), 'bosun-watchdog-settle-'));
});
after(async () => {
  await redis?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

// A stage whose worker is gone for good (no live job, no heartbeat) with a step left running:
// the watchdog asks the executor what became of the step before closing the stage, so a step
// that finished keeps its real result and is never run again.
const cases: {
  name: string;
  step: ScriptedStep | undefined;
  action: string;
  stage: string;
  stepStatus: string;
  exitCode?: number;
  detail?: string;
  log?: RegExp;
}[] = [
  {
    name: 'a step that exited 0 while its worker was gone is recorded as a success, and so is its stage',
    step: { fate: { state: 'exited', exitCode: 0 }, stdout: 'deployed\n' },
    action: 'settled success',
    stage: 'success',
    stepStatus: 'success',
    exitCode: 0,
    log: /^deployed\nbosun: the worker running this step died after the step ended/,
  },
  {
    name: 'a step that exited 3 is recorded as failed with exit code 3',
    step: { fate: { state: 'exited', exitCode: 3 } },
    action: 'settled failed',
    stage: 'failed',
    stepStatus: 'failed',
    exitCode: 3,
  },
  {
    name: 'a step still running within its timeout is waited for: the stage stays running',
    step: { fate: { state: 'running' } },
    action: 'waiting',
    stage: 'running',
    stepStatus: 'running',
  },
  {
    name: 'a step whose fate cannot be known ends failed_infra: state unknown after a crash',
    step: undefined,
    action: 'failed',
    stage: 'failed_infra',
    stepStatus: 'failed_infra',
    detail: 'state unknown after a crash — retry it yourself',
  },
];

let seq = 1;
for (const c of cases) {
  test(c.name, async () => {
    const prefix = `ws${seq}`;
    const store = new BuildStore(redis.client(), prefix);
    const logs = new LogStore(redis.client(), dataDir, prefix);
    const ref = `docker:c${seq}`;
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
          name: 'deploy',
          status: 'running',
          needs: [],
          labels: [],
          resources: [],
          steps: [
            {
              name: 'push',
              status: 'running',
              image: 'x',
              runs: 1,
              executor: 'docker',
              executorRef: ref,
              startedAt: new Date().toISOString(),
              plan: { name: 'push', image: 'x', commands: ['true'], env: {}, timeoutSec: 600, workdir: '.' },
            },
          ],
        },
      ],
    };
    await store.create(build, []);
    const executor = new FakeExecutor('docker');
    if (c.step) executor.steps.set(ref, c.step);
    const queued: string[] = [];
    const queue: WorkQueue = { advance: async (id) => void queued.push(`advance ${id}`), runStage: async () => undefined };
    const jobs: StageJobInspector = { stageJobState: async () => 'failed', lastHeartbeat: async () => null, workersFor: async () => 1 };
    const deps = {
      config: loadConfig({}, {}),
      store,
      logs,
      queue,
      log: silentLogger(),
      secrets: {},
      bus: { publish: async () => undefined },
    } as unknown as PipelineDeps;

    const actions = await watchdogPass(deps, jobs, 10_000, executor);

    const after = await store.require(build.id);
    const step = after.stages[0]!.steps[0]!;
    assert.deepEqual(actions, [`${c.action} ${build.id}/deploy`]);
    assert.equal(after.stages[0]!.status, c.stage);
    assert.equal(step.status, c.stepStatus);
    assert.equal(step.runs, 1, 'never run again');
    assert.equal(step.exitCode, c.exitCode);
    assert.equal(step.detail, c.detail);
    assert.ok(executor.calls.includes(`inspect ${ref}`));
    if (c.log) assert.match((await logs.read(build.id, 'deploy', 'push')).map((l) => l.text).join('\n'), c.log);
    assert.deepEqual(queued, c.action === 'waiting' ? [] : [`advance ${build.id}`]);
  });
}

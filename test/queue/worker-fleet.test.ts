import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { startRedis, type TestRedis } from '../support/redis-server.js';
import { makeRepo } from '../support/git-repo.js';
import { startWorkerProcess, stopProcess } from '../support/worker-process.js';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { startServer, type RunningServer } from '../../src/app/start-server.js';
import { createBuild } from '../../src/pipeline/create-build.js';
import { isTerminal } from '../../src/domain/status.js';
import type { Build } from '../../src/domain/build.js';

// Issue 7: worker fleets. Workers are separate `bosun worker` processes sharing one Redis;
// the server here runs front ends and orchestration only.
// A 5 s lock: long enough that a worker busy compiling modules on a loaded 2-core machine (tsx)
// keeps its jobs, short enough that a killed worker's stage is picked up well within the test.
const queue = { lockDurationMs: 5000, stalledIntervalMs: 1000, maxStalledCount: 1, watchdogIntervalMs: 1000 };
let redis: TestRedis;
let dir: string;
let server: RunningServer;
let repoUrl: string;
const workers: ChildProcess[] = [];
const actor = { id: 'cli:tester', name: 'tester' };

before(async () => {
  redis = await startRedis();
  dir = mkdtempSync(join(tmpdir(), 'bosun-fleet-'));
  const record = join(dir, 'record');
  const repo = await makeRepo(dir, 'fleet', {
    'bosun.yml': [
      'version: 1',
      'image: any',
      'stages:',
      '  test:',
      '    steps:',
      '      - name: record',
      `        run: echo "$BOSUN_BUILD_ID $BOSUN_WORKER_ID" >> ${record}`,
      // Safe to run again: the killed worker's `work` step runs again on another worker.
      '      - name: work',
      '        idempotent: true',
      '        run: sleep 1',
      '  mac:',
      '    labels: [macos]',
      '    needs: [test]',
      '    steps:',
      '      - name: where',
      `        run: echo "$BOSUN_BUILD_ID mac $BOSUN_WORKER_LABELS" >> ${record}-mac`,
      '',
    ].join('\n'),
  });
  repoUrl = repo.url;
  const config = loadConfig(
    {},
    {
      dataDir: join(dir, 'server'),
      redisUrl: redis.url,
      http: { port: 0 },
      workers: 0,
      queue,
      logLevel: 'silent',
      repos: { fleet: { url: repoUrl } },
    },
  );
  server = await startServer(config, silentLogger());
});

after(async () => {
  for (const w of workers) await stopProcess(w);
  await server?.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function waitAll(ids: string[], timeoutMs: number): Promise<Build[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const builds = await Promise.all(ids.map((id) => server.core.store.require(id)));
    if (builds.every((b) => isTerminal(b.status)) || Date.now() > deadline) return builds;
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('three workers share 30 builds; one killed with SIGKILL mid-step loses nothing; labelled stages go only to the labelled worker', async () => {
  const workerConfig = { queue, repos: { fleet: { url: repoUrl } }, limits: { killGraceSec: 1 } };
  for (const name of ['a', 'b', 'c']) workers.push(startWorkerProcess({ redisUrl: redis.url, dir, name, config: workerConfig }));
  workers.push(startWorkerProcess({ redisUrl: redis.url, dir, name: 'mac', config: workerConfig, labels: ['macos'] }));

  const ids: string[] = [];
  for (let i = 0; i < 30; i++) {
    const { build } = await createBuild(server.core.deps, { repo: 'fleet', ref: 'master', trigger: { event: 'manual', source: 'cli', actor } });
    ids.push(build!.id);
  }

  // Kill the worker running some build's `work` step (its step 1 already recorded).
  const victimPid = await findWorkerRunningWorkStep(ids, 60_000);
  const victim = workers.find((w) => w.pid === victimPid);
  assert.ok(victim, `the step's parent ${victimPid} is one of our workers`);
  victim.kill('SIGKILL');

  const builds = await waitAll(ids, 180_000);

  assert.deepEqual(
    builds.map((b) => b.status),
    ids.map(() => 'success'),
    JSON.stringify(builds.filter((b) => b.status !== 'success').map((b) => [b.id, b.status, b.stages.map((s) => [s.name, s.status])])),
  );
  const lines = readFileSync(join(dir, 'record'), 'utf8').trim().split('\n');
  const perBuild = new Map<string, number>();
  for (const l of lines) perBuild.set(l.split(' ')[0]!, (perBuild.get(l.split(' ')[0]!) ?? 0) + 1);
  assert.deepEqual(
    [...perBuild.values()],
    ids.map(() => 1),
    'each build recorded exactly once',
  );
  const usedWorkers = new Set(lines.map((l) => l.split(' ')[1]));
  assert.ok(usedWorkers.size >= 3, `work spread over the workers: ${[...usedWorkers].join(', ')}`);
  const mac = readFileSync(join(dir, 'record-mac'), 'utf8').trim().split('\n');
  assert.equal(mac.length, 30);
  assert.ok(
    mac.every((l) => l.endsWith(' mac macos')),
    'every labelled stage ran on the macos worker',
  );
});

/** The pid of the worker process running a `work` step (the parent of the step's shell). */
async function findWorkerRunningWorkStep(ids: string[], timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const id of ids) {
      const b = await server.core.store.get(id);
      const step = b?.stages[0]?.steps[1];
      const ref = step?.status === 'running' ? step.executorRef : undefined;
      const pid = ref ? Number(ref.split(':')[1]) : NaN;
      if (!Number.isFinite(pid)) continue;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (workers.some((w) => w.pid === ppid)) return ppid;
      } catch {
        // finished meanwhile
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no worker ran a work step in time');
}

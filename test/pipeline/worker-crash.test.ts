import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { startWorkerProcess } from '../support/worker-process.js';
import type { RunningServer } from '../../src/app/start-server.js';
import type { WorkerPool } from '../../src/app/start-worker-pool.js';
import type { Build } from '../../src/domain/build.js';

// kill -9 a `bosun worker` (local executor) in the middle of a step. The step's processes
// die with the worker; another worker resumes the stage; steps that completed are not run again;
// the step that was running is run again only when its spec marks it idempotent, otherwise it
// ends failed_infra for a person to retry.
let h: Harness;
let dir: string;
let server: RunningServer;
let advance: WorkerPool;
const queue = { lockDurationMs: 1000, stalledIntervalMs: 500, maxStalledCount: 1, watchdogIntervalMs: 1000 };
const repos = (): Record<string, { url: string }> => ({
  crashy: { url: `file://${join(dir, 'src-repos', 'crashy')}` },
  unsafe: { url: `file://${join(dir, 'src-repos', 'unsafe')}` },
});

before(async () => {
  // The server runs orchestration only (workers: 0); stage work goes to child processes.
  h = await startHarness({ workers: 0, queue });
  await h.server.close(); // restarted below with an advance-only worker pool
  dir = mkdtempSync(join(tmpdir(), 'bosun-crash-'));
  const { startServer } = await import('../../src/app/start-server.js');
  const { loadConfig } = await import('../../src/config.js');
  const { silentLogger } = await import('../../src/logger.js');
  const config = loadConfig(
    {},
    {
      dataDir: join(dir, 'server'),
      redisUrl: h.redis.url,
      http: { port: 0 },
      workers: 0,
      queue,
      logLevel: 'silent',
      apiTokens: [{ name: 't', token: 'test-token-0123456789abcdef' }],
      repos: repos(),
    },
  );
  server = await startServer(config, silentLogger());
  const { startWorkerPool } = await import('../../src/app/start-worker-pool.js');
  advance = await startWorkerPool(server.core, {
    advance: true,
    concurrency: 0,
    labels: [],
    executor: {
      name: 'local',
      start: () => {
        throw new Error('unused');
      },
      destroyRef: async () => undefined,
      reap: async () => [],
      reapBuilds: async () => [],
      cleanupBuild: async () => undefined,
      close: async () => undefined,
    } as never,
  });
});
after(async () => {
  await advance?.close(true);
  await server?.close();
  await h?.redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

function startWorker(name: string): ChildProcess {
  const config = { queue, repos: repos(), limits: { killGraceSec: 1 } };
  return startWorkerProcess({ redisUrl: h.redis.url, dir, name, config });
}

async function build(repo: string): Promise<string> {
  const res = await fetch(`${server.url}/api/builds`, {
    method: 'POST',
    headers: { authorization: 'Bearer test-token-0123456789abcdef', 'content-type': 'application/json' },
    body: JSON.stringify({ repo, ref: 'master' }),
  });
  return ((await res.json()) as { build: { id: string } }).build.id;
}

async function waitForFile(path: string, deadline: number): Promise<void> {
  while (!existsSync(path) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(existsSync(path), `${path} appeared`);
}

async function waitDone(id: string, deadline: number): Promise<Build> {
  let b = await server.core.store.require(id);
  while (!['success', 'failed', 'failed_infra', 'cancelled'].includes(b.status) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    b = await server.core.store.require(id);
  }
  return b;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
}

test('a worker killed with SIGKILL mid-step: its step processes die with it, the stage resumes on another worker, completed steps do not run again, and the idempotent step runs again', async () => {
  const counter = join(dir, 'first-ran');
  const started = join(dir, 'second-started');
  const sleeper = join(dir, 'sleep.pid');
  await makeRepo(dir, 'crashy', {
    'bosun.yml': [
      'version: 1',
      'image: any',
      'stages:',
      '  test:',
      '    steps:',
      '      - name: first',
      `        run: echo ran >> ${counter}`,
      '      - name: second',
      '        idempotent: true',
      '        run:',
      `          - touch ${started}`,
      `          - 'if [ "$(cat ${counter} | wc -l)" = 1 ] && [ ! -f ${started}.again ]; then sleep 600 & echo $! > ${sleeper}; touch ${started}.again; wait; fi'`,
      '',
    ].join('\n'),
  });
  const w1 = startWorker('one');
  let w2: ChildProcess | undefined;
  try {
    const id = await build('crashy');
    const deadline = Date.now() + 150_000;
    await waitForFile(`${started}.again`, deadline);
    const sleepPid = Number(readFileSync(sleeper, 'utf8'));
    assert.ok(alive(sleepPid), "the step's sleep runs");

    w1.kill('SIGKILL');
    await new Promise((r) => w1.once('exit', r));
    // Before any other worker could clean up: the step's processes died with their worker.
    const goneBy = Date.now() + 30_000;
    while (alive(sleepPid) && Date.now() < goneBy) await new Promise((r) => setTimeout(r, 50));
    assert.ok(!alive(sleepPid), "the step's sleep 600 did not outlive its killed worker");

    w2 = startWorker('two');
    const b = await waitDone(id, deadline + 30_000);
    assert.equal(b.status, 'success', JSON.stringify(b.stages));
    assert.equal(readFileSync(counter, 'utf8').trim().split('\n').length, 1, 'step 1 ran exactly once');
    assert.equal(b.stages[0]!.steps[0]!.runs, 1);
    assert.equal(b.stages[0]!.steps[1]!.runs, 2, 'the idempotent step ran again after the crash');
    const log = (await server.core.deps.logs.read(id, 'test', 'second')).map((l) => l.text).join('\n');
    assert.match(
      log,
      /^bosun: the worker running this step died and what became of the step is unknown \(its process is gone, and with it its exit status\); it is marked idempotent, so it runs again\n/,
    );
  } finally {
    w1.kill('SIGKILL');
    if (w2) await stop(w2);
  }
});

test('a step not marked idempotent whose worker was killed ends failed_infra, "state unknown after a crash", and is not run again', async () => {
  const runs = join(dir, 'deploy-runs');
  await makeRepo(dir, 'unsafe', {
    'bosun.yml': [
      'version: 1',
      'image: any',
      'stages:',
      '  test:',
      '    steps:',
      '      - name: deploy',
      '        run:',
      `          - echo deploying >> ${runs}`,
      '          - sleep 600',
      '      - name: after',
      '        run: echo never',
      '',
    ].join('\n'),
  });
  const w1 = startWorker('three');
  let w2: ChildProcess | undefined;
  try {
    const id = await build('unsafe');
    const deadline = Date.now() + 150_000;
    await waitForFile(runs, deadline);
    w1.kill('SIGKILL');
    await new Promise((r) => w1.once('exit', r));
    w2 = startWorker('four');

    const b = await waitDone(id, deadline + 30_000);

    const [deploy, after] = b.stages[0]!.steps;
    assert.equal(b.status, 'failed_infra', JSON.stringify(b.stages));
    assert.equal(deploy!.status, 'failed_infra');
    assert.equal(deploy!.detail, 'state unknown after a crash — retry it yourself');
    assert.equal(deploy!.runs, 1);
    assert.equal(after!.status, 'skipped');
    assert.equal(readFileSync(runs, 'utf8'), 'deploying\n', 'the step ran once');
    const log = (await server.core.deps.logs.read(id, 'test', 'deploy')).map((l) => l.text).join('\n');
    assert.match(log, /state unknown after a crash — retry it yourself/);
  } finally {
    w1.kill('SIGKILL');
    if (w2) await stop(w2);
  }
});

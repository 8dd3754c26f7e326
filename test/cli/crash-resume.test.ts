import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { freePort, startRedis, type TestRedis } from '../support/redis-server.js';
import { makeRepo } from '../support/git-repo.js';
import { busyboxImage, engineForTests, sweepInstance } from '../executor/docker-harness.js';
import type { Build } from '../../src/domain/build.js';

// `kill -9` of a real `bosun start` while a step runs, then a restart: the step is never run a
// second time (a deploy would deploy twice). The executor is asked what became of it: a step
// still running is followed to its end, one that ended meanwhile keeps its real exit code; both
// keep their whole log (read back from the engine). Counted independently of Bosun's records:
// the engine's `start` events for containers carrying the step's labels.
const bosun = join(process.cwd(), 'bin', 'bosun');
const token = 'crash-token-0123456789abcdef';
const docker = await engineForTests(false);
let redis: TestRedis;
let dir: string;

before(async () => {
  redis = await startRedis();
  dir = mkdtempSync(join(tmpdir(), 'bosun-crash-cli-'));
});
after(async () => {
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Running {
  child: ChildProcess;
  url: string;
}

async function startBosun(env: NodeJS.ProcessEnv): Promise<Running> {
  const port = await freePort();
  const child = spawn(bosun, ['start'], { env: { ...env, BOSUN_PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 60_000;
  while (!out.includes('Bosun is running at') && child.exitCode === null && Date.now() < deadline) await sleep(100);
  assert.match(out, /Bosun is running at/, out);
  return { child, url: `http://127.0.0.1:${port}` };
}

async function kill9(running: Running): Promise<void> {
  if (running.child.exitCode !== null || running.child.signalCode !== null) return;
  const exited = new Promise((r) => running.child.once('exit', r));
  running.child.kill('SIGKILL');
  await exited;
}

async function stopBosun(running: Running): Promise<void> {
  if (running.child.exitCode !== null || running.child.signalCode !== null) return;
  const exited = new Promise((r) => running.child.once('exit', r));
  running.child.kill('SIGTERM');
  await exited;
}

async function api<T>(url: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  assert.ok(res.ok, `${path}: ${res.status} ${text}`);
  return (res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text) as T;
}

const getBuild = async (url: string, id: string): Promise<Build> => (await api<{ build: Build }>(url, `/api/builds/${id}`)).build;

async function waitBuild(url: string, id: string, pred: (b: Build) => boolean, timeoutMs: number): Promise<Build> {
  const deadline = Date.now() + timeoutMs;
  let b = await getBuild(url, id);
  while (!pred(b) && Date.now() < deadline) {
    await sleep(200);
    b = await getBuild(url, id);
  }
  assert.ok(pred(b), `build #${id} did not get there: ${JSON.stringify(b.stages)}`);
  return b;
}

/** Whether the step behind `ref` has exited (its container, or its service's task). */
async function stepExited(engine: Docker, ref: string): Promise<boolean> {
  const [kind, id] = ref.split(':') as [string, string];
  if (kind === 'docker') return (await engine.getContainer(id).inspect()).State.Status === 'exited';
  const tasks = (await engine.listTasks({ filters: JSON.stringify({ service: [id] }) })) as { Status: { State: string } }[];
  return tasks.some((t) => t.Status.State === 'complete' || t.Status.State === 'failed');
}

/**
 * Counts the engine's starts of this instance's `deploy` step containers, per build, from a live
 * event stream opened before the build. (Asking the engine afterwards with since/until reads its
 * in-memory backlog of the last 256 events, which other Docker work on a busy engine overruns.)
 */
async function watchStepStarts(engine: Docker, instance: string): Promise<{ starts(buildId: string): number; stop(): void }> {
  const stream = (await engine.getEvents({
    filters: JSON.stringify({ type: ['container'], event: ['start'], label: [`bosun.instance=${instance}`, 'bosun.step=deploy'] }),
  })) as NodeJS.ReadableStream & { destroy(): void };
  const builds: string[] = [];
  let buffer = '';
  stream.on('data', (chunk: Buffer) => {
    buffer += String(chunk);
    let end: number;
    while ((end = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, end).trim();
      buffer = buffer.slice(end + 1);
      if (!line) continue;
      const event = JSON.parse(line) as { Actor?: { Attributes?: Record<string, string> } };
      builds.push(event.Actor?.Attributes?.['bosun.build'] ?? '?');
    }
  });
  stream.on('error', () => undefined);
  return { starts: (buildId) => builds.filter((b) => b === buildId).length, stop: () => stream.destroy() };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const cases = [
  {
    name: 'restarted while the step still runs: it is followed to its end, not run again, and its whole log kept',
    // Long enough to outlast a slow log (the kill waits for 'deploying') and the kill itself.
    run: ['echo deploying', 'sleep 30', 'echo deployed'],
    waitForExit: false,
    status: 'success',
    exitCode: 0,
  },
  {
    name: 'restarted after the step ended: its real exit code is recorded, it is not run again, and its whole log kept',
    run: ['echo deploying', 'sleep 4', 'echo deployed', 'exit 3'],
    waitForExit: true,
    status: 'failed',
    exitCode: 3,
  },
] as const;

for (const executor of ['docker', 'swarm'] as const) {
  for (const c of cases) {
    test(`${executor}: kill -9 of bosun start mid-step, ${c.name}`, { timeout: 300_000 }, async (t) => {
      if (!docker) return t.skip('no docker engine');
      const info = (await docker.info()) as { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean } };
      if (executor === 'swarm' && !(info.Swarm?.LocalNodeState === 'active' && info.Swarm.ControlAvailable)) return t.skip('the engine is not a swarm manager');
      const name = `${executor}-${c.waitForExit ? 'ended' : 'running'}`;
      const instance = `cr${process.pid}-${executor}-${c.waitForExit ? 'e' : 'r'}`;
      const repo = await makeRepo(dir, name, {
        'bosun.yml': [
          'version: 1',
          `image: ${busyboxImage}`,
          'stages:',
          '  deploy:',
          '    steps:',
          '      - name: deploy',
          '        run:',
          ...c.run.map((r) => `          - ${r}`),
          '',
        ].join('\n'),
      });
      const configFile = join(dir, `${name}.json`);
      writeFileSync(
        configFile,
        JSON.stringify({
          instanceId: instance,
          apiTokens: [{ name: 't', token }],
          repos: { app: { url: repo.url } },
          queue: { lockDurationMs: 2000, stalledIntervalMs: 1000, maxStalledCount: 1, watchdogIntervalMs: 1000 },
          limits: { killGraceSec: 1 },
        }),
      );
      const env = {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        REDIS_URL: redis.url,
        BOSUN_CONFIG: configFile,
        BOSUN_DATA_DIR: join(dir, `data-${name}`),
        BOSUN_EXECUTOR: executor,
        BOSUN_LOG_LEVEL: process.env.BOSUN_TEST_LOG ?? 'warn',
      };
      const starts = await watchStepStarts(docker, instance);

      let bosunRun = await startBosun(env);
      let id = '';
      try {
        id = (await api<{ build: Build }>(bosunRun.url, '/api/builds', { repo: 'app', ref: 'master' })).build.id;
        const running = await waitBuild(bosunRun.url, id, (b) => Boolean(b.stages[0]?.steps[0]?.executorRef), 120_000);
        const ref = running.stages[0]!.steps[0]!.executorRef!;
        const logSoFar = async (): Promise<string> => api<string>(bosunRun.url, `/api/builds/${id}/logs/deploy/deploy`);
        const deadline = Date.now() + 30_000;
        while (!(await logSoFar()).includes('deploying') && Date.now() < deadline) await sleep(100);
        assert.match(await logSoFar(), /deploying/, 'the step runs (its first line is in the log)');

        await kill9(bosunRun);
        if (c.waitForExit) {
          const exitBy = Date.now() + 60_000;
          while (!(await stepExited(docker, ref)) && Date.now() < exitBy) await sleep(200);
          assert.ok(await stepExited(docker, ref), 'the step ended while Bosun was down');
        } else {
          assert.equal(await stepExited(docker, ref), false, 'the step still runs while Bosun is down');
        }
        bosunRun = await startBosun(env);

        const done = await waitBuild(bosunRun.url, id, (b) => ['success', 'failed', 'failed_infra', 'cancelled'].includes(b.status), 180_000);
        const step = done.stages[0]!.steps[0]!;
        const log = await api<string>(bosunRun.url, `/api/builds/${id}/logs/deploy/deploy`);

        assert.equal(starts.starts(id), 1, 'the engine started the step once');
        assert.equal(step.runs, 1, 'the step was not run again');
        assert.equal(done.status, c.status, JSON.stringify(done.stages));
        assert.equal(step.status, c.status);
        assert.equal(step.exitCode, c.exitCode);
        assert.match(log, /^\+ echo deploying\ndeploying\n[\s\S]*\ndeployed\n/, log);
        assert.match(log, /the worker running this step died[\s\S]*the step was not run again/);
      } finally {
        starts.stop();
        await stopBosun(bosunRun).catch(() => undefined);
        await sweepInstance(docker, instance);
      }
    });
  }
}

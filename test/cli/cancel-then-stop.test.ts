import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { freePort, startRedis, type TestRedis } from '../support/redis-server.js';
import { makeRepo } from '../support/git-repo.js';
import { busyboxImage, engineForTests, sweepInstance } from '../executor/docker-harness.js';
import type { Build } from '../../src/domain/build.js';

// An operator cancels a running build and stops Bosun right away (SIGTERM): Bosun exits having
// removed everything the build made — its step container or service, its network (and the
// egress rules in iptables), its workspace volume and secrets — not leaving it to a sweep at
// the next start. Counted on the engine by the instance's label and names, not from Bosun's records.
const execFileP = promisify(execFile);
const bosun = join(process.cwd(), 'bin', 'bosun');
const token = 'cancel-stop-token-0123456789abcdef';
const docker = await engineForTests(false);
let redis: TestRedis;
let dir: string;

before(async () => {
  redis = await startRedis();
  dir = mkdtempSync(join(tmpdir(), 'bosun-cancel-stop-'));
});
after(async () => {
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function api<T>(url: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  assert.ok(res.ok, `${path}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

/** Everything on the engine (and in iptables) that belongs to `instance`. */
async function leftovers(engine: Docker, instance: string, swarm: boolean): Promise<string[]> {
  const label = JSON.stringify({ label: [`bosun.instance=${instance}`] });
  const left: string[] = [];
  for (const c of await engine.listContainers({ all: true, filters: label })) left.push(`container ${c.Names[0] ?? c.Id}`);
  const { Volumes: volumes } = await engine.listVolumes({ filters: label });
  for (const v of volumes ?? []) left.push(`volume ${v.Name}`);
  if (swarm) {
    for (const s of await engine.listServices({ filters: label })) left.push(`service ${s.Spec?.Name ?? s.ID}`);
    const secrets = (await engine.listSecrets({ filters: label })) as unknown as Array<{ Spec?: { Name?: string }; ID: string }>;
    for (const s of secrets) left.push(`secret ${s.Spec?.Name ?? s.ID}`);
  }
  // Swarm-scoped bridges carry no labels: their names start with the instance's.
  const prefix = `bosun-${instance.toLowerCase()}`.slice(0, 26);
  for (const n of await engine.listNetworks()) if (n.Name.startsWith(prefix) || n.Labels?.['bosun.instance'] === instance) left.push(`network ${n.Name}`);
  const { stdout } = await execFileP('iptables-save', ['-t', 'filter']).catch(() => ({ stdout: '' }));
  for (const line of stdout.split('\n')) if (line.includes(`bosun:${instance}:`)) left.push(`iptables ${line}`);
  return left;
}

async function startBosun(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const port = await freePort();
  const child = spawn(bosun, ['start'], { env: { ...env, BOSUN_PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 60_000;
  while (!out.includes('Bosun is running at') && child.exitCode === null && Date.now() < deadline) await sleep(100);
  assert.match(out, /Bosun is running at/, out);
  return { child, url: `http://127.0.0.1:${port}`, output: () => out };
}

for (const executor of ['docker', 'swarm'] as const) {
  test(`${executor}: cancel a running build, then SIGTERM Bosun at once: nothing of the build is left on the engine`, { timeout: 300_000 }, async (t) => {
    if (!docker) return t.skip('no docker engine');
    const info = (await docker.info()) as { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean } };
    if (executor === 'swarm' && !(info.Swarm?.LocalNodeState === 'active' && info.Swarm.ControlAvailable)) return t.skip('the engine is not a swarm manager');
    const instance = `cs${process.pid}${executor === 'docker' ? 'd' : 's'}`;
    t.after(() => sweepInstance(docker, instance));
    const repo = await makeRepo(dir, `app-${executor}`, {
      'bosun.yml': [
        'version: 1',
        `image: ${busyboxImage}`,
        'stages:',
        '  long:',
        '    steps:',
        '      - name: wait',
        '        run: [echo started, sleep 600]',
        '',
      ].join('\n'),
    });
    const configFile = join(dir, `${executor}.json`);
    writeFileSync(
      configFile,
      JSON.stringify({ instanceId: instance, apiTokens: [{ name: 't', token }], repos: { app: { url: repo.url } }, limits: { killGraceSec: 1 } }),
    );
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      REDIS_URL: redis.url,
      BOSUN_CONFIG: configFile,
      BOSUN_DATA_DIR: join(dir, `data-${executor}`),
      BOSUN_EXECUTOR: executor,
      BOSUN_LOG_LEVEL: process.env.BOSUN_TEST_LOG ?? 'warn',
    };
    const running = await startBosun(env);
    try {
      const id = (await api<{ build: Build }>(running.url, '/api/builds', { repo: 'app', ref: 'master' })).build.id;
      const deadline = Date.now() + 120_000;
      let build = (await api<{ build: Build }>(running.url, `/api/builds/${id}`)).build;
      while (!build.stages[0]?.steps[0]?.executorRef && Date.now() < deadline) {
        await sleep(200);
        build = (await api<{ build: Build }>(running.url, `/api/builds/${id}`)).build;
      }
      assert.ok(build.stages[0]?.steps[0]?.executorRef, `the step never started: ${JSON.stringify(build.stages)}`);
      assert.ok((await leftovers(docker, instance, executor === 'swarm')).length > 0, 'the running build has resources on the engine');

      await api(running.url, `/api/builds/${id}/cancel`, {});
      const exited = new Promise((r) => running.child.once('exit', r));
      running.child.kill('SIGTERM');
      await exited;
      assert.equal(running.child.exitCode, 0, running.output());
    } finally {
      if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill('SIGKILL');
    }
    assert.deepEqual(await leftovers(docker, instance, executor === 'swarm'), [], 'Bosun stopped with nothing of the cancelled build left');
  });
}

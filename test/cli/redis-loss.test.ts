import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../support/redis-server.js';
import { alive, redisPidOn } from '../support/redis-probe.js';

const run = promisify(execFile);
const bosun = join(process.cwd(), 'bin', 'bosun');

// `bosun start` on the embedded defaults, when its redis-server is killed, hangs, or outlives
// a `kill -9` of Bosun itself.

interface Running {
  server: ChildProcess;
  env: NodeJS.ProcessEnv;
  url: string;
  socket: string;
  output(): string;
  /** Waits (bounded) for the process to exit; true when it did. */
  exited(timeoutMs: number): Promise<boolean>;
  cleanup(): Promise<void>;
}

async function startBosun(): Promise<Running> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bosun-redis-loss-'));
  const port = await freePort();
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    BOSUN_DATA_DIR: dataDir,
    BOSUN_PORT: String(port),
    BOSUN_EXECUTOR: 'local',
    BOSUN_LOG_LEVEL: 'warn',
  };
  const server = spawn(bosun, ['start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  server.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  server.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<void>((r) => server.once('exit', () => r()));
  const exited = async (timeoutMs: number) => {
    if (server.exitCode !== null || server.signalCode !== null) return true;
    return Promise.race([exit.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs))]);
  };
  const deadline = Date.now() + 60_000;
  while (!out.includes('Bosun is running at') && Date.now() < deadline && server.exitCode === null) await new Promise((r) => setTimeout(r, 100));
  assert.match(out, /Bosun is running at/, out);
  return {
    server,
    env,
    url: `http://127.0.0.1:${port}`,
    socket: join(dataDir, 'redis', 'redis.sock'),
    output: () => out,
    exited,
    async cleanup() {
      if (!(await exited(0))) {
        server.kill('SIGKILL');
        await exited(10_000);
      }
      // The embedded redis-server dies with Bosun (pdeathsig) but may still be writing its AOF for a moment.
      rmSync(dataDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
    },
  };
}

async function until<T>(fn: () => T | Promise<T>, pred: (v: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (pred(v)) return v;
    if (Date.now() > deadline) assert.fail(`${what}; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function readyz(url: string): Promise<{ status: number; json: any }> {
  try {
    const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(15_000) });
    return { status: res.status, json: await res.json() };
  } catch (err) {
    return { status: 0, json: String(err) };
  }
}

test('kill -9 of `bosun start` takes its embedded redis-server with it', async () => {
  const b = await startBosun();
  const redisPid = await redisPidOn(b.socket);
  try {
    assert.ok(redisPid, 'the embedded redis-server answers');
    b.server.kill('SIGKILL');
    assert.ok(await b.exited(10_000));
    await until(
      () => alive(redisPid),
      (a) => !a,
      60_000,
      'the embedded redis-server outlived Bosun',
    );
  } finally {
    if (redisPid && alive(redisPid)) process.kill(redisPid, 'SIGKILL');
    await b.cleanup();
  }
});

test('a killed embedded redis-server is restarted on the same data and the event logged; Bosun is ready and builds again', async () => {
  const b = await startBosun();
  try {
    const queued = await run(bosun, ['build', 'demo#master'], { env: b.env, timeout: 30_000 });
    const id = /Queued #(\d+)/.exec(queued.stdout)?.[1];
    assert.ok(id, queued.stdout);
    const first = (await redisPidOn(b.socket))!;
    process.kill(first, 'SIGKILL');
    const second = await until(
      () => redisPidOn(b.socket),
      (pid) => pid !== null && pid !== first,
      60_000,
      'no redis-server came back',
    );
    assert.ok(second);
    assert.match(b.output(), /Embedded Redis exited unexpectedly; restarting it/);
    await until(
      () => readyz(b.url),
      (r) => r.status === 200,
      60_000,
      'Bosun did not become ready again',
    );
    const status = await run(bosun, ['status', id], { env: b.env, timeout: 60_000 });
    assert.match(status.stdout, new RegExp(`#${id} demo#master`), 'the build recorded before the crash is still there');
    const after = await run(bosun, ['build', 'demo#master', '--follow'], { env: b.env, timeout: 120_000 });
    assert.match(after.stdout, /=== build #\d+ success/, 'builds run again after the restart');
  } finally {
    await b.cleanup();
  }
});

test('a hung embedded Redis: /readyz says so, the CLI is told to retry at once, and SIGTERM still stops Bosun in bounded time', async () => {
  const b = await startBosun();
  const redisPid = (await redisPidOn(b.socket))!;
  try {
    assert.equal((await readyz(b.url)).status, 200);
    process.kill(redisPid, 'SIGSTOP'); // alive but answering nothing: no restart can help
    const down = await until(
      () => readyz(b.url),
      (r) => r.status === 503,
      60_000,
      '/readyz kept saying ready',
    );
    assert.equal(down.json.checks.redis.ok, false);
    assert.equal((await fetch(`${b.url}/healthz`)).status, 200, 'still live');

    const status = await run(bosun, ['status'], { env: b.env, timeout: 30_000 }).then(
      () => assert.fail('bosun status succeeded without Redis'),
      (err: { stderr?: string; killed?: boolean }) => err,
    );
    assert.ok(!status.killed, 'bosun status did not hang');
    assert.match(status.stderr ?? '', /Bosun's Redis is unreachable, retry in \d+ s/);

    const stopping = Date.now();
    b.server.kill('SIGTERM');
    assert.ok(await b.exited(30_000), `SIGTERM did not stop Bosun:\n${b.output()}`);
    console.log(`# SIGTERM to exit with Redis hung: ${((Date.now() - stopping) / 1000).toFixed(1)} s`);
  } finally {
    if (alive(redisPid)) {
      process.kill(redisPid, 'SIGCONT');
      await until(
        () => alive(redisPid),
        (a) => !a,
        60_000,
        'the embedded redis-server outlived Bosun',
      ).catch(() => process.kill(redisPid, 'SIGKILL'));
    }
    await b.cleanup();
  }
});

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

/** A real redis-server on a free loopback port, owned by one test file. */
export interface TestRedis {
  url: string;
  port: number;
  dir: string;
  process: ChildProcess;
  /** A tracked client; closed by stop(). */
  client(): Redis;
  stop(): Promise<void>;
  /** SIGKILL the server (for crash tests); `restart()` brings it back on the same port and dir. */
  kill(): Promise<void>;
  restart(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function startRedis(opts: { appendonly?: boolean } = {}): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'bosun-redis-'));
  const clients: Redis[] = [];
  let port = 0;
  let args: string[] = [];
  let proc: ChildProcess;
  // freePort() can hand the same port to two test files at once; the loser's redis-server
  // fails to bind and its PONG would come from the other file's server. Check it is ours.
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      opts.appendonly === false ? 'no' : 'yes',
      '--appendfsync',
      'everysec',
      '--maxmemory-policy',
      'noeviction',
      '--daemonize',
      'no',
      '--protected-mode',
      'yes',
    ];
    proc = spawnRedis(args);
    await waitReady(port);
    if (await servesDir(port, dir)) break;
    await stopProcess(proc, 'SIGKILL');
    if (attempt >= 4) throw new Error('could not start a redis-server of our own');
  }

  const self: TestRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    get process() {
      return proc;
    },
    client() {
      const c = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: null, lazyConnect: false });
      c.on('error', () => undefined); // commands report failures; the server may be killed on purpose
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.disconnect();
      await stopProcess(proc, 'SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
    async kill() {
      await stopProcess(proc, 'SIGKILL');
    },
    async restart() {
      proc = spawnRedis(args);
      await waitReady(port);
    },
  };
  return self;
}

/** True when the server on `port` is the one started with `--dir dir`. */
async function servesDir(port: number, dir: string): Promise<boolean> {
  const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => undefined); // not up yet: connect() reports it
  try {
    await c.connect();
    const reply = (await c.config('GET', 'dir')) as string[];
    return reply[1] === realpathSync(dir);
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}

function spawnRedis(args: string[]): ChildProcess {
  return spawn('redis-server', args, { stdio: 'ignore' });
}

async function stopProcess(proc: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    proc.once('exit', () => resolve());
    proc.kill(signal);
  });
}

async function waitReady(port: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on('error', () => undefined); // not up yet: connect() reports it
    c.on('error', () => undefined); // not up yet: connect() reports it
    try {
      await c.connect();
      if ((await c.ping()) === 'PONG') return;
    } catch {
      // not up yet
    } finally {
      c.disconnect();
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server on port ${port} did not start`);
}

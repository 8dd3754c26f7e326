import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { InfraError } from '../errors.js';
import type { Logger } from '../logger.js';
import { commandLine, identityOf, isAlive } from './process-identity.js';

export interface EmbeddedRedis {
  socketPath: string;
  /** True when this process started the server (and supervises and stops it). */
  owned: boolean;
  stop(): Promise<void>;
}

/** Who runs the embedded redis-server: `<dataDir>/redis/owner.json`, written by its owner. */
const OwnerRecord = z.object({
  redis: z.object({ pid: z.number().int().positive(), start: z.string().nullable() }),
  owner: z.object({ pid: z.number().int().positive(), start: z.string().nullable() }),
  socketPath: z.string(),
});
type OwnerRecord = z.infer<typeof OwnerRecord>;

/** Restart delays after unexpected exits: 0.5 s doubling to 30 s; reset after a minute up. */
const restartBackoff = { firstMs: 500, maxMs: 30_000, stableMs: 60_000 };
const startTimeoutMs = 30_000;
const stopTimeoutMs = 10_000;

/**
 * Starts Bosun's own `redis-server` for the embedded default: AOF (`everysec`) and
 * `noeviction` (R23), data under `<dataDir>/redis`, reachable only through a unix socket
 * in that directory (no TCP port).
 *
 * Ownership: the starting process owns the server and records itself and the server (pid and
 * start time) in `owner.json`. The server dies with its owner — it is started through
 * `setpriv --pdeathsig TERM` where util-linux has it — and the owner supervises it: an
 * unexpected exit is logged and the server restarted with backoff on the same data (AOF).
 * Another Bosun process on the same data dir (a `bosun worker` beside `bosun start`) uses a
 * server whose recorded owner is alive, as a guest. A server still answering whose owner is
 * gone (an orphan of a killed Bosun) is stopped before a fresh one starts.
 */
export async function startEmbeddedRedis(dataDir: string, log: Logger): Promise<EmbeddedRedis> {
  const dir = join(dataDir, 'redis');
  mkdirSync(dir, { recursive: true });
  const socketPath = join(dir, 'redis.sock');
  const ownerFile = join(dir, 'owner.json');
  const record = readOwner(ownerFile);
  if (await answers(socketPath)) {
    if (record && record.owner.pid !== process.pid && isAlive(record.owner)) {
      log.info({ socket: socketPath, ownerPid: record.owner.pid }, 'Using the embedded Redis of another Bosun process');
      return { socketPath, owned: false, stop: async () => undefined };
    }
    await stopOrphan(socketPath, record, log);
  }
  const supervisor = new RedisSupervisor(dir, socketPath, ownerFile, log);
  await supervisor.start();
  return { socketPath, owned: true, stop: () => supervisor.stop() };
}

class RedisSupervisor {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private stopping = false;
  private failures = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly wrapper: string[];

  constructor(
    private readonly dir: string,
    private readonly socketPath: string,
    private readonly ownerFile: string,
    private readonly log: Logger,
  ) {
    this.wrapper = hasPdeathsig() ? ['setpriv', '--pdeathsig', 'TERM', '--'] : [];
  }

  async start(): Promise<void> {
    const child = this.spawn();
    if (!(await this.waitUp(child, startTimeoutMs))) {
      child.kill('SIGKILL');
      throw new InfraError('infra', `embedded redis-server did not start (see ${join(this.dir, 'redis.log')}); is redis-server installed?`);
    }
    this.adopt(child);
    if (this.wrapper.length === 0)
      this.log.warn('setpriv --pdeathsig is not available: the embedded Redis outlives a killed Bosun until the next start stops it');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      child.kill('SIGCONT'); // a stopped (hung) server handles TERM only once continued
      const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.ownerFile, { force: true });
  }

  private spawn(): ChildProcess {
    const argv = [
      ...this.wrapper,
      'redis-server',
      '--port',
      '0',
      '--unixsocket',
      this.socketPath,
      '--unixsocketperm',
      '700',
      '--dir',
      this.dir,
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
      '--maxmemory-policy',
      'noeviction',
      '--save',
      '',
      '--daemonize',
      'no',
      '--logfile',
      join(this.dir, 'redis.log'),
    ];
    const child = spawn(argv[0] ?? 'redis-server', argv.slice(1), { stdio: 'ignore' });
    child.once('error', (err) => this.log.error({ err }, 'Embedded Redis could not be spawned'));
    this.child = child;
    this.exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    return child;
  }

  /** Waits until the server answers PING; false when it exits or the time is up. */
  private async waitUp(child: ChildProcess, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!(await answers(this.socketPath))) {
      if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline || this.stopping) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
    return true;
  }

  /** Records ownership and watches for an unexpected exit. */
  private adopt(child: ChildProcess): void {
    if (child.pid === undefined) return;
    const record: OwnerRecord = { redis: identityOf(child.pid), owner: identityOf(process.pid), socketPath: this.socketPath };
    writeFileSync(this.ownerFile, `${JSON.stringify(record)}\n`, { mode: 0o600 });
    const upSince = Date.now();
    child.once('exit', (code, signal) => {
      if (this.stopping) return;
      if (Date.now() - upSince > restartBackoff.stableMs) this.failures = 0;
      const delayMs = Math.min(restartBackoff.maxMs, restartBackoff.firstMs * 2 ** this.failures);
      this.failures += 1;
      this.log.error({ code, signal, pid: child.pid, restartInMs: delayMs }, 'Embedded Redis exited unexpectedly; restarting it');
      this.scheduleRestart(delayMs);
    });
  }

  private scheduleRestart(delayMs: number): void {
    this.timer = setTimeout(() => void this.restart(), delayMs);
    this.timer.unref();
  }

  private async restart(): Promise<void> {
    if (this.stopping) return;
    const child = this.spawn();
    if (await this.waitUp(child, startTimeoutMs)) {
      this.adopt(child);
      this.log.warn({ pid: child.pid, attempt: this.failures }, 'Embedded Redis restarted on the same data');
      return;
    }
    if (this.stopping) return;
    child.kill('SIGKILL');
    await this.exited;
    const delayMs = Math.min(restartBackoff.maxMs, restartBackoff.firstMs * 2 ** this.failures);
    this.failures += 1;
    this.log.error({ restartInMs: delayMs, log: join(this.dir, 'redis.log') }, 'Embedded Redis did not come back; trying again');
    this.scheduleRestart(delayMs);
  }
}

/**
 * Stops a server that answers on our socket though no live Bosun owns it. The socket is in
 * our data dir with mode 0700, so only this user can have started it; the pid comes from the
 * owner record when its redis is still that process, else from the server itself, and must
 * be a redis-server.
 */
async function stopOrphan(socketPath: string, record: OwnerRecord | null, log: Logger): Promise<void> {
  const pid = record && isAlive(record.redis) ? record.redis.pid : await serverPid(socketPath);
  const cmd = pid ? commandLine(pid) : [];
  if (!pid || !cmd.some((a) => a.includes('redis-server'))) {
    throw new InfraError(
      'infra',
      `a server answers on ${socketPath} that no live Bosun owns and that cannot be identified as a redis-server; stop it and start again`,
    );
  }
  log.warn({ pid, socket: socketPath, ownerPid: record?.owner.pid }, 'Stopping an orphaned embedded Redis left by a Bosun that is gone');
  const id = identityOf(pid);
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + stopTimeoutMs;
  while (isAlive(id) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (isAlive(id)) process.kill(pid, 'SIGKILL');
  while (isAlive(id) && Date.now() < deadline + 2000) await new Promise((r) => setTimeout(r, 50));
}

function readOwner(file: string): OwnerRecord | null {
  try {
    const r = OwnerRecord.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/** util-linux's setpriv sets PR_SET_PDEATHSIG before exec (Linux only). */
function hasPdeathsig(): boolean {
  const r = spawnSync('setpriv', ['--help'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('--pdeathsig');
}

async function serverPid(path: string): Promise<number | null> {
  const c = probe(path);
  try {
    await c.connect();
    const info = await c.info('server');
    return Number(/process_id:(\d+)/.exec(info)?.[1]) || null;
  } catch {
    return null;
  } finally {
    c.disconnect();
  }
}

async function answers(path: string): Promise<boolean> {
  const c = probe(path);
  try {
    await c.connect();
    return (await c.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}

function probe(path: string): Redis {
  const c = new Redis({ path, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000, commandTimeout: 2000 });
  c.on('error', () => undefined); // connect() reports it
  return c;
}

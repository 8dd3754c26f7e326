import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { InfraError } from '../errors.js';

export interface EmbeddedRedis {
  socketPath: string;
  stop(): Promise<void>;
}

/**
 * Starts Bosun's own `redis-server` for the embedded default: AOF (`everysec`) and
 * `noeviction` (R23), data under `<dataDir>/redis`, reachable only through a unix socket
 * in that directory (no TCP port). Reuses a server already answering on the socket (e.g. a
 * `bosun worker` beside `bosun start`), and then does not own it.
 */
export async function startEmbeddedRedis(dataDir: string): Promise<EmbeddedRedis> {
  const dir = join(dataDir, 'redis');
  mkdirSync(dir, { recursive: true });
  const socketPath = join(dir, 'redis.sock');
  if (await answers(socketPath)) return { socketPath, stop: async () => undefined };

  const child = spawn('redis-server', [
    '--port', '0', '--unixsocket', socketPath, '--unixsocketperm', '700', '--dir', dir,
    '--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction',
    '--save', '', '--daemonize', 'no', '--logfile', join(dir, 'redis.log'),
  ], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('error', () => undefined);

  const deadline = Date.now() + 15_000;
  while (!(await answers(socketPath))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new InfraError('infra', `embedded redis-server did not start (see ${join(dir, 'redis.log')}); is redis-server installed?`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { socketPath, stop: () => stopChild(child, exited) };
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

async function answers(path: string): Promise<boolean> {
  const c = new Redis({ path, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => undefined); // connect() reports it
  try {
    await c.connect();
    return (await c.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}

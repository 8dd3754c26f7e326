import { Redis } from 'ioredis';

/** The pid of the redis-server answering on a unix socket, or null when none answers. */
export async function redisPidOn(socket: string): Promise<number | null> {
  const c = new Redis({ path: socket, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000, commandTimeout: 1000 });
  c.on('error', () => undefined); // nothing answering is an answer here
  try {
    await c.connect();
    return Number(/process_id:(\d+)/.exec(await c.info('server'))?.[1]) || null;
  } catch {
    return null;
  } finally {
    c.disconnect();
  }
}

/** True while a process with this pid exists (a zombie counts; Node reaps its own children). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

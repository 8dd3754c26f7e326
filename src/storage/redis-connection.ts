import { Redis, type RedisOptions } from 'ioredis';
import { UserError } from '../errors.js';

/** ioredis options for a URL (`redis://`, `rediss://`) or a unix socket path. */
function redisOptions(target: { url?: string; socketPath?: string }): RedisOptions & { url?: string } {
  // Workers and QueueEvents need maxRetriesPerRequest: null (BullMQ); one setting for all.
  return target.socketPath ? { path: target.socketPath, maxRetriesPerRequest: null } : { maxRetriesPerRequest: null, url: target.url };
}

export function connectRedis(target: { url?: string; socketPath?: string }): Redis {
  const { url, ...opts } = redisOptions(target);
  return quiet(url ? new Redis(url, opts) : new Redis(opts));
}

/**
 * ioredis reconnects by itself and every command reports its own failure; without a
 * listener it would also print each connection error as "Unhandled error event".
 */
export function quiet(redis: Redis): Redis {
  redis.on('error', () => undefined);
  return redis;
}

/**
 * Refuses a Redis that can lose queued work (R23): eviction must be `noeviction` and
 * persistence must be AOF. Uses CONFIG GET, falling back to INFO where CONFIG is disabled.
 */
export async function assertRedisSafe(redis: Redis): Promise<void> {
  let policy: string | undefined;
  let aof: string | undefined;
  try {
    const p = (await redis.config('GET', 'maxmemory-policy')) as string[];
    const a = (await redis.config('GET', 'appendonly')) as string[];
    policy = p[1];
    aof = a[1];
  } catch {
    const info = await redis.info();
    policy = /maxmemory_policy:(\S+)/.exec(info)?.[1];
    aof = /aof_enabled:(\d)/.exec(info)?.[1] === '1' ? 'yes' : 'no';
  }
  const problems: string[] = [];
  if (policy !== 'noeviction') problems.push(`maxmemory-policy is ${policy ?? 'unknown'} (needs noeviction: evicted keys are lost builds)`);
  if (aof !== 'yes') problems.push('appendonly is off (needs AOF with appendfsync everysec, or queued work is lost on restart)');
  if (problems.length > 0) {
    throw new UserError('redis_unsafe', `refusing to use this Redis: ${problems.join('; ')}`);
  }
}

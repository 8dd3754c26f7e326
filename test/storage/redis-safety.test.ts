import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { startRedis } from '../support/redis-server.js';
import { assertRedisSafe } from '../../src/storage/redis-connection.js';

const run = promisify(execFile);

// R23: a Redis that can evict keys or has no AOF loses queued work; Bosun refuses it.
const cases: { name: string; setup: [string, string][]; refused: RegExp | null }[] = [
  { name: 'noeviction with AOF is accepted', setup: [], refused: null },
  { name: 'allkeys-lru is refused', setup: [['maxmemory-policy', 'allkeys-lru']], refused: /maxmemory-policy is allkeys-lru/ },
  { name: 'no AOF is refused', setup: [['appendonly', 'no']], refused: /appendonly is off/ },
];

for (const c of cases) {
  test(c.name, async () => {
    const redis = await startRedis();
    try {
      const client = redis.client();
      for (const [k, v] of c.setup) await client.config('SET', k, v);

      const result = await assertRedisSafe(client).then(
        () => null,
        (e: Error) => e.message,
      );

      if (c.refused) assert.match(result ?? '', c.refused);
      else assert.equal(result, null);
    } finally {
      await redis.stop();
    }
  });
}

test('bosun start with an evicting REDIS_URL exits non-zero and says why', async () => {
  const redis = await startRedis();
  try {
    await redis.client().config('SET', 'maxmemory-policy', 'allkeys-lru');
    const err = await run(join(process.cwd(), 'bin', 'bosun'), ['start'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, REDIS_URL: redis.url, BOSUN_DATA_DIR: redis.dir, BOSUN_PORT: '0', BOSUN_LOG_LEVEL: 'silent' },
      timeout: 60_000,
    }).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    assert.ok(err, 'bosun start must fail');
    assert.notEqual(err.code, 0);
    assert.match(err.stderr, /refusing to use this Redis: maxmemory-policy is allkeys-lru/);
  } finally {
    await redis.stop();
  }
});

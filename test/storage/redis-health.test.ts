import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startRedis } from '../support/redis-server.js';
import { RedisHealth } from '../../src/storage/redis-health.js';
import { silentLogger } from '../../src/logger.js';

// The health gate refuses requests with 503 while Redis is down, and GitHub does not resend a
// refused webhook: one slow PING (a busy machine, a pause of Bosun's own event loop) must not
// count as an outage, while a Redis that stays unanswering must.
// PING deadlines of 1 s, far above what a loaded machine adds to a PING or to this process's
// event loop; the pauses and hangs below are what make PINGs miss them.
const options = { pingIntervalMs: 100, pingTimeoutMs: 1000, failuresBeforeDown: 2, retryAfterSec: 5 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ok: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok() && Date.now() < deadline) await sleep(20);
  assert.ok(ok(), what);
}

test('one PING that misses its deadline is not an outage; PINGs unanswered in a row are, and an answer ends it', async () => {
  const server = await startRedis();
  const redis = new Redis(server.url, { maxRetriesPerRequest: null });
  const admin = new Redis(server.url);
  const health = new RedisHealth(redis, silentLogger(), options);
  const changes: boolean[] = [];
  health.onChange((up) => changes.push(up));
  try {
    await redis.ping();
    health.start();
    await sleep(300);

    // A pause of 1.1 s holds the PING in flight past its 1 s deadline; the next one is sent
    // 0.1 s after that failure, when the pause is over: one miss, never two.
    await admin.client('PAUSE', 1100, 'ALL');
    await sleep(2500);
    assert.deepEqual(changes, [], 'a single slow PING did not mark Redis down');
    assert.equal(health.up, true);

    // A hung server (stopped, its socket open) until the outage is seen, then answering again.
    server.process.kill('SIGSTOP');
    try {
      await until('a Redis that keeps not answering is an outage', () => !health.up);
    } finally {
      server.process.kill('SIGCONT');
    }
    await until('the first answer after the hang ends it', () => health.up);
    assert.deepEqual(changes, [false, true]);
  } finally {
    health.stop();
    redis.disconnect();
    admin.disconnect();
    await server.stop();
  }
});

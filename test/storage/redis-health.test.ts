import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startRedis } from '../support/redis-server.js';
import { RedisHealth } from '../../src/storage/redis-health.js';
import { silentLogger } from '../../src/logger.js';

// The health gate refuses requests with 503 while Redis is down, and GitHub does not resend a
// refused webhook: one slow PING (a busy machine, a pause of Bosun's own event loop) must not
// count as an outage, while a Redis that stays unanswering must.
const options = { pingIntervalMs: 100, pingTimeoutMs: 200, failuresBeforeDown: 2, retryAfterSec: 5 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

    await admin.client('PAUSE', 300, 'ALL'); // about one PING misses its 200 ms deadline
    await sleep(900);
    assert.deepEqual(changes, [], 'a single slow PING did not mark Redis down');
    assert.equal(health.up, true);

    await admin.client('PAUSE', 1500, 'ALL'); // several PINGs in a row go unanswered
    const deadline = Date.now() + 1400;
    while (health.up && Date.now() < deadline) await sleep(20);
    assert.equal(health.up, false, 'a Redis that keeps not answering is an outage');

    const back = Date.now() + 3000;
    while (!health.up && Date.now() < back) await sleep(20);
    assert.equal(health.up, true, 'the first answer after the pause ends it');
    assert.deepEqual(changes, [false, true]);
  } finally {
    health.stop();
    redis.disconnect();
    admin.disconnect();
    await server.stop();
  }
});

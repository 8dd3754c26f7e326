import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type TestRedis } from '../support/redis-server.js';
import { silentLogger } from '../../src/logger.js';
import { InfraError, UserError } from '../../src/errors.js';
import { RedisInbox } from '../../src/github/redis-inbox.js';
import type { Delivery } from '../../src/github/webhook-route.js';
import { eventually } from './github-harness.js';

let redis: TestRedis;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

const delivery = (id: string): Delivery => ({ id, event: 'push', payload: { n: id } });

test('a delivery is accepted once per id', async () => {
  const inbox = new RedisInbox(redis.client(), 'once', silentLogger());
  const results = await Promise.all(Array.from({ length: 20 }, () => inbox.accept(delivery('d1'))));
  assert.equal(results.filter(Boolean).length, 1);
});

test('an infrastructure failure is retried; a user error is not', async () => {
  const inbox = new RedisInbox(redis.client(), 'retry', silentLogger());
  const seen: string[] = [];
  inbox.start(async (d) => {
    seen.push(d.id);
    if (d.id === 'flaky' && seen.filter((x) => x === 'flaky').length === 1) throw new InfraError('infra', 'redis blip');
    if (d.id === 'bad') throw new UserError('bad_request', 'no such ref');
  });
  try {
    await inbox.accept(delivery('flaky'));
    await inbox.accept(delivery('bad'));
    await eventually(
      () => seen.filter((x) => x === 'flaky').length,
      (n) => n === 2,
      60_000,
    );
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(seen.filter((x) => x === 'bad').length, 1);
  } finally {
    await inbox.stop();
  }
});

test('work cut short by a crash is picked up at the next start', async () => {
  const client = redis.client();
  await client.rpush('crash:github:processing', JSON.stringify(delivery('interrupted')));
  const inbox = new RedisInbox(client, 'crash', silentLogger());
  const seen: string[] = [];
  inbox.start(async (d) => {
    seen.push(d.id);
  });
  try {
    await eventually(
      () => seen,
      (s) => s.includes('interrupted'),
      60_000,
    );
    assert.equal(await client.llen('crash:github:processing'), 0);
  } finally {
    await inbox.stop();
  }
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { FakeZulip } from '../../fakes/fake-zulip.js';
import { startRedis, type TestRedis } from '../../support/redis-server.js';
import { makeZulipApi } from '../../../src/chat/zulip/zulip-api.js';
import { ZulipEventQueue } from '../../../src/chat/zulip/event-queue.js';
import { silentLogger } from '../../../src/logger.js';

let fake: FakeZulip;
let redis: TestRedis;
before(async () => {
  fake = await FakeZulip.start();
  fake.addUser(7, 'Dana');
  fake.heartbeatMs = 300;
  redis = await startRedis();
});
after(async () => {
  await fake?.stop();
  await redis?.stop();
});

test('event loop: errors back off (doubling), heartbeats advance the cursor, a queue lost mid-run is re-registered, each event is handled once', async () => {
  const api = await makeZulipApi({ realm: fake.url, email: fake.bot.email, apiKey: fake.apiKey, log: silentLogger(), maxRetryAfterSec: 5 });
  const seen: number[] = [];
  const queue = new ZulipEventQueue({
    api,
    redis: redis.client(),
    prefix: 'eq',
    log: silentLogger(),
    backoffMs: { min: 200, max: 2000 },
    onEvent: async (ev) => {
      if (ev.type === 'message' && ev.message.sender_id === 7) seen.push(ev.message.id);
    },
    onMissedMessage: async (m) => {
      if (m.sender_id === 7) seen.push(m.id);
    },
    lastMessageId: async () => (seen.length ? Math.max(...seen) : null),
  });
  fake.failPolls = 3;
  queue.start();
  try {
    await fake.waitFor(() => fake.queueCount > 0, 60_000, 'a registered queue');
    const first = fake.say(7, 'dm', 'one');
    await fake.waitFor(() => seen.includes(first), 60_000, 'the first message');
    await fake.waitFor(() => fake.failPolls === 0, 60_000, 'the failed polls');
    const polls = fake.calls.filter((c) => c.path === '/api/v1/events' && c.method === 'GET');
    const failed = polls.filter((c) => c.status === 502);
    assert.equal(failed.length, 3);
    const gaps = polls.slice(1, 4).map((c, i) => c.at - polls[i]!.at);
    assert.ok(gaps[0]! >= 180 && gaps[1]! >= 380 && gaps[2]! >= 780, `waits grow: ${gaps.join(', ')} ms`);

    await fake.waitFor(() => queue.stats.polls >= 2, 60_000, 'a heartbeat');
    const stored = await redis.client().hgetall('eq:zulip:queue');
    assert.ok(Number(stored.lastEventId) >= 1, 'the cursor moved past the heartbeat');

    fake.expireQueues();
    const second = fake.say(7, 'dm', 'two');
    await fake.waitFor(() => seen.includes(second), 60_000, 'the message sent as the queue was lost');
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(queue.stats.registrations, 2);
    assert.deepEqual(seen, [first, second], 'each once, in order');
  } finally {
    await queue.stop();
  }
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'bullmq';
import { startRedis, type TestRedis } from '../support/redis-server.js';
import { BullmqWorkQueue } from '../../src/queue/bullmq-work-queue.js';
import { stageQueueName } from '../../src/queue/queues.js';

let redis: TestRedis;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

async function until(pred: () => Promise<boolean>, timeoutMs = 60_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pred()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

// The watchdog's "no worker has these labels" notice rests on this count being true.
test("workersFor counts the workers connected to a label set's stage queue, and only those", async () => {
  const queue = new BullmqWorkQueue(redis.client(), 'wf');
  assert.equal(await queue.workersFor(['macos']), 0);
  const worker = new Worker(stageQueueName(['macos']), async () => undefined, { connection: redis.client(), prefix: 'wf:q' });
  try {
    assert.ok(await until(async () => (await queue.workersFor(['macos'])) === 1), 'the macos worker is seen');
    assert.equal(await queue.workersFor(['windows']), 0);
    assert.equal(await queue.workersFor([]), 0);
  } finally {
    await worker.close();
  }
  assert.ok(await until(async () => (await queue.workersFor(['macos'])) === 0), 'a closed worker is no longer counted');
});

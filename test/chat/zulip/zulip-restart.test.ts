import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startServer, type RunningServer } from '../../../src/app/start-server.js';
import { LocalExecutor } from '../../../src/executor/local/local-executor.js';
import { silentLogger } from '../../../src/logger.js';
import { people, startZulipBed, type ZulipBed } from './zulip-test-bed.js';

// Bosun stops in the middle of an event long-poll and comes back on the same Redis: commands
// sent while it was away run once, commands it had handled do not run again, whether the
// event queue survived (resume after the recorded last_event_id) or expired (re-register and
// catch up from the last handled message id).
let bed: ZulipBed;
let server: RunningServer | null = null;
let executor: LocalExecutor | null = null;
before(async () => {
  bed = await startZulipBed();
  // A long-poll that only events end (Zulip's heartbeat comes after ~50 s): a stop that waited
  // for it would take minutes, so the bound below can be generous and still tell.
  bed.fake.heartbeatMs = 300_000;
});
after(async () => {
  await server?.close();
  await executor?.close();
  await bed?.h.redis.stop();
  await bed?.fake.stop();
  if (bed) rmSync(bed.h.dataDir, { recursive: true, force: true });
});

async function buildsAsked(): Promise<string[]> {
  const s = server ?? bed.h.server;
  return (await s.core.store.list({ limit: 100 }))
    .filter((b) => b.trigger.source === 'zulip')
    .map((b) => b.trigger.deliveryId ?? '?')
    .sort();
}

async function restart(): Promise<void> {
  const config = (server ?? bed.h.server).core.config;
  await bed.fake.waitFor(() => bed.fake.pollsWaiting > 0, 60_000, 'a long-poll in progress');
  const stopping = Date.now();
  if (server) await server.close();
  else await bed.h.server.close();
  await executor?.close();
  assert.ok(Date.now() - stopping < 30_000, 'stopping does not wait for the long-poll to end');
  executor = new LocalExecutor({ instanceId: config.instanceId, dataDir: bed.h.dataDir, log: silentLogger(), timeoutGraceMs: 2000 });
  server = await startServer(config, silentLogger(), { executor });
}

test('a restart during a long-poll: nothing lost, nothing run twice, on a surviving and on an expired queue', async () => {
  const { fake } = bed;
  const m1 = fake.say(people.dev, 'dm', 'build demo#master');
  await fake.waitFor(() => fake.dms(people.dev).find((m) => /Queued #/.test(m.content)), 60_000, 'the first answer');
  const registered = fake.callsOf('POST', /^\/api\/v1\/register$/).length;

  // 1. The queue survives: Bosun resumes it after the last event it recorded.
  await restart();
  const m2 = fake.say(people.alice, { stream: 'ci', topic: 'asks' }, '@**Bosun** build demo#master');
  await fake.waitFor(() => fake.topic('ci', 'asks').find((m) => /Queued #/.test(m.content)), 60_000, 'the second answer');
  assert.equal(fake.callsOf('POST', /^\/api\/v1\/register$/).length, registered, 'the same queue was resumed');

  // 2. Bosun is down while a command is sent; the queue expires meanwhile.
  const config = server!.core.config;
  await fake.waitFor(() => fake.pollsWaiting > 0, 60_000, 'a long-poll in progress');
  await server!.close();
  await executor!.close();
  server = null;
  const m3 = fake.say(people.bob, 'dm', '@bosun build demo#master');
  fake.expireQueues();
  // As if the last handled message had not been recorded: the catch-up reads m1 and m2 again.
  await bed.h.redis.client().set('bosun:zulip:last-message', String(m1 - 1));
  executor = new LocalExecutor({ instanceId: config.instanceId, dataDir: bed.h.dataDir, log: silentLogger(), timeoutGraceMs: 2000 });
  server = await startServer(config, silentLogger(), { executor });
  await fake.waitFor(() => fake.dms(people.bob).find((m) => /Queued #/.test(m.content)), 60_000, 'the answer to the command sent while Bosun was down');
  assert.equal(fake.callsOf('POST', /^\/api\/v1\/register$/).length, registered + 1, 'a new queue after BAD_EVENT_QUEUE_ID');
  assert.ok(fake.callsOf('GET', /^\/api\/v1\/messages$/).length >= 1, 'the catch-up read the messages it missed');

  await new Promise((r) => setTimeout(r, 1500));
  const host = fake.host;
  assert.deepEqual(await buildsAsked(), [m1, m2, m3].map((m) => `zulip:${host}/${m}`).sort(), 'one build per command');
  assert.equal(fake.dms(people.dev).filter((m) => /Queued #/.test(m.content)).length, 1, 'the first command was not answered twice');
  assert.equal(fake.topic('ci', 'asks').filter((m) => /Queued #/.test(m.content)).length, 1, 'nor the second');
});

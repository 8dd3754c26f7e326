import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { people, startZulipBed, type ZulipBed } from './zulip-test-bed.js';

let bed: ZulipBed;
before(async () => {
  bed = await startZulipBed();
});
after(async () => {
  await bed?.stop();
});

test('a realm whose edit time limit has passed: the story goes on in new messages instead of edits', async () => {
  const { fake, h } = bed;
  fake.editLimitMs = 0;
  fake.say(people.dev, { stream: 'ci', topic: 'asks' }, '@**Bosun** build demo#master');
  const topic = await fake.waitFor(() => fake.topics('ci').find((t) => /^build #\d+ demo#master$/.test(t)), 60_000, 'the topic');
  const id = /^build #(\d+)/.exec(topic)![1]!;
  await h.waitDone(id);
  await fake.waitFor(
    () => {
      const msgs = fake.topic('ci', topic);
      const lastStatus = msgs.filter((m) => /^\S+ \*\*Build #/.test(m.content)).at(-1);
      return lastStatus && /: success\*\*/.test(lastStatus.content) && msgs.some((m) => /Log of e2e › smoke\n/.test(m.content));
    },
    60_000,
    'the final status and log as new messages',
  );
  assert.equal(fake.callsOf('PATCH', /^\/api\/v1\/messages\/\d+$/).length, 0, 'no edit was accepted');
  assert.ok(
    fake.calls.some((c) => c.method === 'PATCH' && c.status === 400),
    'edits were tried and refused',
  );
});

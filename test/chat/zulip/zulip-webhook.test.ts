import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { people, startZulipBed, type ZulipBed } from './zulip-test-bed.js';
import { tokenMatches } from '../../../src/chat/zulip/webhook-route.js';

const token = 'xvOzfurIutdRRVLzpXrIIHXJvNfaJLJ0';
let bed: ZulipBed;
before(async () => {
  bed = await startZulipBed({}, { mode: 'webhook', webhookToken: token });
});
after(async () => {
  await bed?.stop();
});

/** What Zulip POSTs to an outgoing-webhook bot (Zulip format), for a message the fake holds. */
function payload(messageId: number, trigger: string, tokenValue = token): string {
  const m = bed.fake.messages.get(messageId)!;
  return JSON.stringify({
    bot_email: bed.fake.bot.email,
    bot_full_name: bed.fake.bot.full_name,
    data: m.content,
    message: bed.fake.apiMessage(m, bed.fake.bot.user_id),
    token: tokenValue,
    trigger,
  });
}

async function post(body: string): Promise<{ status: number; json: any; ms: number }> {
  const started = Date.now();
  const res = await fetch(`${bed.h.url}/zulip/webhook`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: res.status, json: await res.json(), ms: Date.now() - started };
}

test('webhook mode: a wrong or missing token is 401, a bad payload 400, and nothing runs', async () => {
  const id = bed.fake.say(people.dev, 'dm', 'build demo#master');
  assert.equal((await post(payload(id, 'direct_message', 'wrong-token'))).status, 401);
  assert.equal((await post(JSON.stringify({ message: {} }))).status, 401);
  assert.equal((await post(JSON.stringify({ token, message: { id: 'x' } }))).status, 400);
  assert.equal(tokenMatches(token.slice(0, -1), token), false);
  const huge = JSON.stringify({ token, message: { content: 'x'.repeat(2 * 1024 * 1024) } });
  assert.equal(
    (await fetch(`${bed.h.url}/zulip/webhook`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: huge })).status,
    413,
    'bodies over 1 MiB are refused (R6)',
  );
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await bed.h.server.core.store.list({ limit: 10 })).length, 0);
});

test('webhook mode: acks at once; Zulip retries of one message (concurrent and later) make one build (R5)', async () => {
  const { fake, h } = bed;
  const id = fake.say(people.dev, { stream: 'ci', topic: 'asks' }, '@**Bosun** build demo#master');
  const body = payload(id, 'mention');
  const [a, b] = await Promise.all([post(body), post(body)]);
  assert.deepEqual(a.json, { response_not_required: true });
  assert.equal(b.status, 200);
  assert.ok(a.ms < 3000, `acked in ${a.ms} ms (the build is queued after the answer)`);
  await fake.waitFor(() => fake.topic('ci', 'asks').find((m) => /Queued #/.test(m.content)), 60_000, 'the answer');
  await post(body);
  await new Promise((r) => setTimeout(r, 500));
  const builds = await h.server.core.store.list({ limit: 10 });
  assert.equal(builds.length, 1);
  assert.equal(builds[0]!.trigger.actor.id, fake.actorId(people.dev), 'identified by sender_id');
  assert.equal(fake.topic('ci', 'asks').filter((m) => /Queued #/.test(m.content)).length, 1);
  assert.equal(fake.callsOf('POST', /^\/api\/v1\/register$/).length, 0, 'no event queue in webhook mode');
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { z } from 'zod';
import { FakeZulip } from './fake-zulip.js';
import {
  BadEventQueueIdError,
  GetEventsResponse,
  GetMessageResponse,
  GetMessagesResponse,
  JsonError,
  JsonSuccessBase,
  OwnUserResponse,
  RateLimitedError,
  RegisterResponse,
  SendMessageResponse,
} from './zulip-api-schemas.js';

// The fake answers as Zulip's OpenAPI description says a Zulip answers (schemas copied into
// zulip-api-schemas.ts), for the calls Bosun makes, in the encodings zulip-js uses.
let fake: FakeZulip;
let auth: string;
before(async () => {
  fake = await FakeZulip.start();
  fake.addUser(7, 'Dana');
  fake.heartbeatMs = 200;
  auth = `Basic ${Buffer.from(`${fake.bot.email}:${fake.apiKey}`).toString('base64')}`;
});
after(async () => {
  await fake?.stop();
});

async function call(method: string, path: string, params: Record<string, string> = {}, asForm = method !== 'GET'): Promise<{ status: number; json: unknown }> {
  const q = new URLSearchParams(params);
  const res = await fetch(`${fake.url}/api/v1${path}${asForm ? '' : `?${q}`}`, {
    method,
    headers: { authorization: auth, ...(asForm ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
    ...(asForm ? { body: q.toString() } : {}),
  });
  return { status: res.status, json: await res.json() };
}

function valid<T extends z.ZodType>(schema: T, answer: { json: unknown }): z.infer<T> {
  const parsed = schema.safeParse(answer.json);
  assert.ok(parsed.success, `${JSON.stringify(answer.json)}\n${parsed.error?.message ?? ''}`);
  return parsed.data;
}

test('fake Zulip answers match the OpenAPI schemas: users/me, register, events (message, reaction, heartbeat), send, edit, messages', async () => {
  valid(OwnUserResponse, await call('GET', '/users/me'));
  const reg = valid(RegisterResponse, await call('POST', '/register', { event_types: '["message","reaction"]', apply_markdown: 'false' }));
  const msgId = fake.say(7, { stream: 'ci', topic: 't' }, '@**Bosun** status');
  const sent = valid(SendMessageResponse, await call('POST', '/messages', { type: 'stream', to: 'ci', topic: 't', content: 'hi' }));
  valid(JsonSuccessBase, await call('POST', `/messages/${sent.id}/reactions`, { emoji_name: 'check' }));
  valid(JsonSuccessBase, await call('PATCH', `/messages/${sent.id}`, { content: 'edited' }));
  const events = valid(GetEventsResponse, await call('GET', '/events', { queue_id: reg.queue_id!, last_event_id: '-1' }));
  assert.deepEqual(
    events.events.map((e) => e.type),
    ['message', 'message', 'reaction'],
  );
  const first = events.events[0]!;
  assert.equal(first.type === 'message' && first.flags.includes('mentioned'), true);
  const heartbeat = valid(GetEventsResponse, await call('GET', '/events', { queue_id: reg.queue_id!, last_event_id: String(events.events.at(-1)?.id ?? -1) }));
  assert.deepEqual(
    heartbeat.events.map((e) => e.type),
    ['heartbeat'],
    'an idle long-poll ends with a heartbeat',
  );
  const history = valid(GetMessagesResponse, await call('GET', '/messages', { anchor: String(msgId), num_before: '0', num_after: '10' }));
  assert.deepEqual(
    history.messages.map((m) => m.id),
    [msgId, sent.id],
  );
  assert.equal(fake.messages.get(sent.id)!.content, 'edited');
  const one = valid(GetMessageResponse, await call('GET', `/messages/${sent.id}`, { apply_markdown: 'false' }));
  assert.deepEqual(
    one.message.reactions.map((r) => r.emoji_name),
    ['check'],
  );
});

test('fake Zulip errors match the OpenAPI schemas: BAD_EVENT_QUEUE_ID, RATE_LIMIT_HIT with Retry-After, a bad key, a missing argument', async () => {
  const bad = await call('GET', '/events', { queue_id: 'gone', last_event_id: '-1' });
  assert.equal(bad.status, 400);
  valid(BadEventQueueIdError, bad);
  fake.rateLimit = () => 2;
  const limited = await call('POST', '/messages', { type: 'stream', to: 'ci', topic: 't', content: 'x' });
  fake.rateLimit = null;
  assert.equal(limited.status, 429);
  assert.equal(valid(RateLimitedError, limited)['retry-after'], 2);
  auth = 'Basic eDp5';
  const unauthorized = await call('GET', '/users/me');
  auth = `Basic ${Buffer.from(`${fake.bot.email}:${fake.apiKey}`).toString('base64')}`;
  assert.equal(unauthorized.status, 401);
  valid(JsonError, unauthorized);
  valid(JsonError, await call('POST', '/messages', { type: 'stream', to: 'ci', topic: 't' }));
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { startRedis, type TestRedis } from '../support/redis-server.js';
import { signBody } from '../fakes/github-signature.js';
import { pushPayload } from '../fakes/fake-github-payloads.js';
import { silentLogger } from '../../src/logger.js';
import { RedisInbox } from '../../src/github/redis-inbox.js';
import { WebhookVerifier } from '../../src/github/webhook-verifier.js';
import { webhookPath, webhookRoute } from '../../src/github/webhook-route.js';

// The webhook route on a real Redis inbox whose consumer is not started, so what was queued
// stays in the inbox list for the test to read.
const secret = 'dup-secret-0123456789';
const prefix = 'dup';
let redis: TestRedis;
let app: FastifyInstance;
let url: string;

before(async () => {
  redis = await startRedis();
  const inbox = new RedisInbox(redis.client(), prefix, silentLogger());
  app = Fastify({ logger: false });
  await webhookRoute(new WebhookVerifier(['old-secret-0123', secret]), inbox, silentLogger())(app);
  url = `${await app.listen({ port: 0, host: '127.0.0.1' })}${webhookPath}`;
});
after(async () => {
  await app?.close();
  await redis?.stop();
});

const body = JSON.stringify(pushPayload({ repo: 'acme/dup', ref: 'refs/heads/main', after: 'a'.repeat(40), sender: { id: 7, login: 'dev' } }));

async function post(id: string, payload: string, signature: string | undefined): Promise<{ status: number; json: unknown }> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': id };
  if (signature !== undefined) headers['x-hub-signature-256'] = signature;
  const res = await fetch(url, { method: 'POST', headers, body: payload });
  return { status: res.status, json: await res.json() };
}

async function queued(): Promise<{ id: string; payload: { after: string } }[]> {
  return (await redis.client().lrange(`${prefix}:github:inbox`, 0, -1)).map((s) => JSON.parse(s) as { id: string; payload: { after: string } });
}

/** Counts the JSON.parse calls that see a webhook body while `fn` runs. */
async function parsesDuring(fn: () => Promise<void>): Promise<number> {
  const realParse = JSON.parse;
  let parses = 0;
  JSON.parse = function spy(text: string, reviver?: (k: string, v: unknown) => unknown) {
    if (String(text).includes('"after"') || String(text).startsWith('{"ref": ')) parses++;
    return realParse(text, reviver);
  } as typeof JSON.parse;
  try {
    await fn();
  } finally {
    JSON.parse = realParse;
  }
  return parses;
}

test('a redelivery of a queued delivery: what each variant gets, and nothing is lost', async () => {
  const id = 'dup-0001';
  assert.deepEqual(await post(id, body, signBody(secret, body)), { status: 202, json: { queued: id } });
  const notJson = '{"ref": ';
  const cases: [string, string, string | undefined, { status: number; json: unknown }][] = [
    ['good signature: duplicate, payload not parsed', body, signBody(secret, body), { status: 202, json: { duplicate: id } }],
    ['good signature by the old secret (rotation): duplicate', body, signBody('old-secret-0123', body), { status: 202, json: { duplicate: id } }],
    ['bad signature: refused as any bad signature is', body, signBody('not-the-secret', body), { status: 401, json: { error: 'signature_invalid' } }],
    ['no signature: refused', body, undefined, { status: 401, json: { error: 'signature_missing' } }],
    ['a signed body that is not JSON: duplicate (never parsed)', notJson, signBody(secret, notJson), { status: 202, json: { duplicate: id } }],
    [
      'a signed body with another payload: duplicate, the first one stays',
      body.replace('a'.repeat(40), 'b'.repeat(40)),
      signBody(secret, body.replace('a'.repeat(40), 'b'.repeat(40))),
      { status: 202, json: { duplicate: id } },
    ],
  ];
  for (const [name, payload, signature, expected] of cases) {
    let got: { status: number; json: unknown } | undefined;
    const parses = await parsesDuring(async () => {
      got = await post(id, payload, signature);
    });
    assert.deepEqual(got, expected, name);
    assert.equal(parses, 0, `${name}: the body was parsed`);
  }
  const inbox = await queued();
  assert.deepEqual(
    inbox.map((d) => [d.id, d.payload.after]),
    [[id, 'a'.repeat(40)]],
    'the first delivery is queued once, unchanged',
  );
});

test('bad input under a new delivery id claims nothing: the good delivery is still taken', async () => {
  const notJson = '{"ref": ';
  const cases: [string, string, string | undefined, { status: number; json: unknown }][] = [
    ['bad signature', body, signBody('not-the-secret', body), { status: 401, json: { error: 'signature_invalid' } }],
    ['a signed body that is not JSON', notJson, signBody(secret, notJson), { status: 400, json: { error: 'json_invalid' } }],
    [
      'a signed payload that fails the schema',
      body.replace('a'.repeat(40), 'not-hex'),
      signBody(secret, body.replace('a'.repeat(40), 'not-hex')),
      { status: 400, json: { error: 'payload_invalid', field: 'after' } },
    ],
  ];
  for (const [i, [name, payload, signature, expected]] of cases.entries()) {
    const id = `fresh-${i}`;
    assert.deepEqual(await post(id, payload, signature), expected, name);
    assert.deepEqual(await post(id, body, signBody(secret, body)), { status: 202, json: { queued: id } }, `${name}: then the good delivery`);
  }
  const ids = (await queued()).map((d) => d.id);
  for (const i of cases.keys()) assert.equal(ids.filter((x) => x === `fresh-${i}`).length, 1);
});

test('many redeliveries and new deliveries at once: each answered for its own id', async () => {
  const old = Array.from({ length: 20 }, (_, i) => `many-old-${i}`);
  for (const id of old) assert.equal((await post(id, body, signBody(secret, body))).status, 202);
  const fresh = Array.from({ length: 20 }, (_, i) => `many-new-${i}`);
  const replies = await Promise.all([...old, ...fresh, ...fresh].map((id) => post(id, body, signBody(secret, body)).then((r) => [id, r] as const)));
  for (const id of old) assert.deepEqual(replies.find(([x]) => x === id)?.[1], { status: 202, json: { duplicate: id } }, id);
  for (const id of fresh) {
    const answers = replies.filter(([x]) => x === id).map(([, r]) => r.json);
    assert.equal(answers.length, 2);
    assert.deepEqual(
      answers.filter((a) => JSON.stringify(a) === JSON.stringify({ queued: id })),
      [{ queued: id }],
      `${id} is queued exactly once: ${JSON.stringify(answers)}`,
    );
  }
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../support/redis-server.js';
import { startBosun, type RestartableBosun } from './restartable-bosun.js';
import { WebhookReceiver, testWebhookSecret, until } from './webhook-receiver.js';

const failuresToDisable = 4;
let bosun: RestartableBosun;
let broken: WebhookReceiver;
let healthy: WebhookReceiver;
const logLines: string[] = [];

before(async () => {
  broken = await new WebhookReceiver(testWebhookSecret, await freePort()).start();
  broken.answer = 500;
  healthy = await new WebhookReceiver(testWebhookSecret, await freePort()).start();
  bosun = await startBosun(
    {
      webhooks: [
        { id: 'broken', url: broken.url, events: ['build.*'], secret: testWebhookSecret },
        { id: 'watcher', url: healthy.url, events: ['webhook.disabled'], secret: testWebhookSecret },
      ],
      webhookDelivery: { backoffBaseMs: 100, backoffCapMs: 400, disableAfterFailures: failuresToDisable, timeoutMs: 3000 },
    },
    { logLines },
  );
  await bosun.addEchoRepo('hooked', ['only']);
});
after(async () => {
  await bosun?.stop();
  await broken?.stop();
  await healthy?.stop();
});

test('a receiver answering 500 forever is disabled after the configured failures, with a notice in the log, on the stream and in GET /api/webhooks', async () => {
  const res = await bosun.api('POST', '/api/builds', { repo: 'hooked', ref: 'master' });
  await bosun.waitDone(res.json.build.id);

  const listed = await until(
    async () => (await bosun.api('GET', '/api/webhooks')).json.webhooks.find((w: any) => w.id === 'broken'),
    (w) => w.disabled === true,
    30_000,
    'the endpoint to be disabled',
  );
  assert.match(listed.reason, new RegExp(`^${failuresToDisable} failed attempts in a row \\(last: HTTP 500\\)$`));
  assert.equal(listed.lastStatus, 500);
  assert.ok(listed.pending > 0, 'undelivered events stay queued');

  const notice = await until(
    async () => (await bosun.server.core.bus.range('-', 10_000)).find((e) => e.type === 'webhook.disabled'),
    (e) => e !== undefined,
    60_000,
    'the webhook.disabled event',
  );
  assert.equal(notice!.type === 'webhook.disabled' && notice!.webhook, 'broken');
  await until(
    () => healthy.unique().filter((r) => r.payload?.type === 'webhook.disabled').length,
    (n) => n === 1,
    60_000,
    'the notice delivered to the other endpoint',
  );
  assert.match(String(healthy.unique()[0]!.payload!.data.text), /Outgoing webhook "broken" was disabled/);
  const logged = logLines.map((l) => JSON.parse(l)).find((l) => l.msg === 'Outgoing webhook disabled');
  assert.equal(logged?.webhook, 'broken');
  assert.equal(logged?.level, 40);

  // No more attempts once disabled, and new events are not queued for it.
  const attempts = broken.received.length;
  assert.equal(attempts, failuresToDisable);
  assert.ok(
    broken.received.every((r) => r.verified && r.id === broken.received[0]!.id),
    'retries of one message, same webhook-id',
  );
  const pending = listed.pending as number;
  const res2 = await bosun.api('POST', '/api/builds', { repo: 'hooked', ref: 'master' });
  await bosun.waitDone(res2.json.build.id);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(broken.received.length, attempts);
  assert.equal((await bosun.api('GET', '/api/webhooks')).json.webhooks.find((w: any) => w.id === 'broken').pending, pending);
  const log = (await bosun.api('GET', '/api/webhooks/broken/deliveries')).json.deliveries as any[];
  assert.deepEqual(
    log.map((d) => [d.outcome, d.status, d.attempt]),
    [4, 3, 2, 1].map((n) => ['failed', 500, n]),
  );
});

test('re-enabling a disabled endpoint sends what waited', async () => {
  broken.answer = 200;
  assert.equal((await bosun.api('POST', '/api/webhooks/broken/enable', undefined, null)).status, 401);
  const res = await bosun.api('POST', '/api/webhooks/broken/enable');
  assert.equal(res.status, 200);
  assert.equal(res.json.disabled, false);
  await until(
    async () => (await bosun.api('GET', '/api/webhooks')).json.webhooks.find((w: any) => w.id === 'broken').pending,
    (n) => n === 0,
    60_000,
    'the outbox to drain',
  );
  assert.ok(broken.received.at(-1)!.verified);
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../support/redis-server.js';
import { startBosun, type RestartableBosun } from './restartable-bosun.js';
import { WebhookReceiver, testWebhookSecret, until } from './webhook-receiver.js';
import type { StoredEvent } from '../../src/domain/build-event.js';
import { matchesEvent } from '../../src/domain/event-types.js';

/** How long the receiver stays down (the done-when says a minute; override to iterate faster). */
const downMs = Number(process.env.BOSUN_TEST_WEBHOOK_DOWN_MS ?? 60_000);
const events = ['build.*', 'step.status'];

let bosun: RestartableBosun;
let receiver: WebhookReceiver;

before(async () => {
  receiver = new WebhookReceiver(testWebhookSecret, await freePort()); // not started: the receiver is down
  bosun = await startBosun({
    webhooks: [{ id: 'ci-feed', url: receiver.url, events, secret: testWebhookSecret }],
    webhookDelivery: { backoffBaseMs: 200, backoffCapMs: 4000, disableAfterFailures: 10_000, timeoutMs: 3000 },
  });
  await bosun.addEchoRepo('hooked');
});
after(async () => {
  await receiver?.stop();
  await bosun?.stop();
});

const buildOf = (e: StoredEvent): string | undefined => ('buildId' in e ? e.buildId : undefined);

async function streamEvents(): Promise<StoredEvent[]> {
  return bosun.server.core.bus.range('-', 100_000);
}

test(
  'a receiver that is down for a minute (across a Bosun restart) gets every event once it is back, in order per build, each verified',
  { timeout: downMs + 180_000 },
  async (t) => {
    const downSince = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await bosun.api('POST', '/api/builds', { repo: 'hooked', ref: 'master' });
      assert.equal(res.status, 201);
      ids.push(res.json.build.id);
    }
    for (const id of ids) assert.equal((await bosun.waitDone(id)).status, 'success');

    // Attempts are failing and logged while the receiver is down.
    await until(
      () => bosun.api('GET', '/api/webhooks/ci-feed/deliveries'),
      (r) => r.json.deliveries?.length >= 2,
      30_000,
      'failed attempts in the delivery log',
    );
    const failing = await bosun.api('GET', '/api/webhooks/ci-feed/deliveries');
    assert.ok(
      failing.json.deliveries.every((d: any) => d.outcome === 'failed' && d.status === undefined && d.error === 'ECONNREFUSED'),
      JSON.stringify(failing.json.deliveries.slice(0, 3)),
    );

    // Bosun restarts while deliveries are pending: nothing pending may be lost.
    const pendingBefore = (await bosun.api('GET', '/api/webhooks')).json.webhooks[0].pending as number;
    assert.ok(pendingBefore > 0);
    await bosun.restart();
    const pendingAfter = (await bosun.api('GET', '/api/webhooks')).json.webhooks[0].pending as number;
    assert.ok(pendingAfter >= pendingBefore - 1, `pending ${pendingBefore} before the restart, ${pendingAfter} after`);

    await new Promise((r) => setTimeout(r, Math.max(0, downMs - (Date.now() - downSince))));
    assert.equal(receiver.received.length, 0);
    await receiver.start();
    const upAt = Date.now();

    const expected = (await streamEvents()).filter((e) => matchesEvent(events, e.type) && ids.includes(buildOf(e) ?? ''));
    await until(
      () => receiver.unique().length,
      (n) => n >= expected.length,
      60_000,
      `${expected.length} deliveries`,
    );
    const failedWhileDown = ((await bosun.api('GET', '/api/webhooks/ci-feed/deliveries?limit=1000')).json.deliveries as any[]).filter(
      (d) => d.outcome === 'failed',
    ).length;
    t.diagnostic(
      `receiver down ${Math.round((upAt - downSince) / 1000)} s: ${failedWhileDown} failed attempts, ${pendingBefore} pending at the restart; all ${expected.length} events delivered ${Date.now() - upAt} ms after it came back (${receiver.received.length} requests)`,
    );

    assert.ok(
      receiver.received.every((r) => r.verified),
      'every request verifies with the Standard Webhooks library',
    );
    const got = receiver.unique();
    assert.deepEqual(new Set(got.map((r) => r.id)), new Set(expected.map((e) => e.id)), 'every event, nothing else');
    for (const id of ids) {
      const want = expected.filter((e) => buildOf(e) === id).map((e) => e.id);
      const have = got.filter((r) => r.payload?.data.buildId === id).map((r) => r.id);
      assert.deepEqual(have, want, `build #${id}: in stream order`);
    }
    const first = got[0]!.payload!;
    assert.equal(first.id, expected[0]!.id);
    assert.equal(first.type, expected[0]!.type);
    assert.equal(first.timestamp, expected[0]!.at);
    assert.equal(first.data.buildId, ids[0]);
    assert.equal(got.at(-1)!.payload!.type, 'build.status');

    const deliveries = (await bosun.api('GET', '/api/webhooks/ci-feed/deliveries?limit=1000')).json.deliveries as any[];
    assert.ok(deliveries.some((d) => d.outcome === 'delivered' && d.status === 200));
    const state = (await bosun.api('GET', '/api/webhooks')).json.webhooks[0];
    assert.equal(state.pending, 0);
    assert.equal(state.disabled, false);
    assert.equal(state.failures, 0, 'a success ends the failure streak');
  },
);

test('a delivery can be sent again by hand, with the same webhook-id', async () => {
  const target = receiver.unique()[0]!;
  const before = receiver.received.filter((r) => r.id === target.id).length;
  const noToken = await bosun.api('POST', `/api/webhooks/ci-feed/deliveries/${target.id}/redeliver`, undefined, null);
  assert.equal(noToken.status, 401);

  const res = await bosun.api('POST', `/api/webhooks/ci-feed/deliveries/${target.id}/redeliver`);
  assert.equal(res.status, 202, JSON.stringify(res.json));
  await until(
    () => receiver.received.filter((r) => r.id === target.id).length,
    (n) => n === before + 1,
    60_000,
    'the redelivery',
  );
  const again = receiver.received.filter((r) => r.id === target.id).at(-1)!;
  assert.ok(again.verified);
  assert.equal(again.body, target.body, 'the same payload');
  const log = (await bosun.api('GET', '/api/webhooks/ci-feed/deliveries')).json.deliveries as any[];
  assert.equal(log[0].deliveryId, target.id);
  assert.equal(log[0].redelivery, true);
  const audit = (await bosun.api('GET', '/api/audit?limit=1000')).json.entries as any[];
  assert.ok(audit.some((e) => e.action === 'webhook.redeliver' && e.actorId === 'api:tester'));

  assert.equal((await bosun.api('POST', '/api/webhooks/ci-feed/deliveries/1-0/redeliver')).status, 404);
  assert.equal((await bosun.api('POST', '/api/webhooks/nope/deliveries/1-0/redeliver')).status, 404);
  assert.equal((await bosun.api('GET', '/api/webhooks', undefined, null)).status, 401);
});

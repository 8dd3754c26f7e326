import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../support/redis-server.js';
import { silentLogger } from '../../src/logger.js';
import { startServer, type RunningServer } from '../../src/app/start-server.js';
import { startBosun, type RestartableBosun } from './restartable-bosun.js';
import { WebhookReceiver, testWebhookSecret, until } from './webhook-receiver.js';
import { parsePrometheusText } from './prometheus-parser.js';
import { matchesEvent } from '../../src/domain/event-types.js';

const events = ['build.*', 'step.status'];
let bosun: RestartableBosun;
let second: RunningServer;
let receiver: WebhookReceiver;

before(async () => {
  receiver = await new WebhookReceiver(testWebhookSecret, await freePort()).start();
  bosun = await startBosun({
    webhooks: [{ id: 'ci-feed', url: receiver.url, events, secret: testWebhookSecret }],
    webhookDelivery: { backoffBaseMs: 200, backoffCapMs: 1000 },
  });
  await bosun.addEchoRepo('shared');
  // A second server process on the same Redis: front ends only, same webhooks.
  const config = structuredClone(bosun.config);
  delete config.http.publicUrl;
  config.workers = 0;
  second = await startServer(config, silentLogger());
});
after(async () => {
  await second?.close();
  await bosun?.stop();
  await receiver?.stop();
});

async function buildsTotal(url: string): Promise<number> {
  const families = await parsePrometheusText(await (await fetch(`${url}/metrics`)).text());
  return (
    families
      .find((f) => f.name === 'bosun_builds')
      ?.samples.filter((s) => s.name === 'bosun_builds_total')
      .reduce((a, s) => a + s.value, 0) ?? 0
  );
}

test('two server processes on one Redis send each event once and report the same build counts', async () => {
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) ids.push((await bosun.api('POST', '/api/builds', { repo: 'shared', ref: 'master' })).json.build.id);
  for (const id of ids) await bosun.waitDone(id);

  const expected = (await bosun.server.core.bus.range('-', 100_000)).filter(
    (e) => matchesEvent(events, e.type) && ids.includes(('buildId' in e ? e.buildId : undefined) ?? ''),
  );
  await until(
    () => receiver.unique().length,
    (n) => n >= expected.length,
    30_000,
    `${expected.length} deliveries`,
  );
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(receiver.received.length, expected.length, 'no event sent twice, though both processes run the fan-out and a dispatcher');
  assert.deepEqual(
    receiver.received.map((r) => r.id),
    expected.map((e) => e.id),
    'in stream order',
  );

  const counts = await until(
    async () => [await buildsTotal(bosun.url()), await buildsTotal(second.url)],
    (c) => c[0] === ids.length && c[1] === ids.length,
    60_000,
    'both processes to count every build',
  );
  assert.deepEqual(counts, [ids.length, ids.length]);
});

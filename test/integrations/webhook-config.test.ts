import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { loadConfig } from '../../src/config.js';
import { signWebhook } from '../../src/events/webhooks/sign-webhook.js';
import { backoffMs } from '../../src/events/webhooks/webhook-dispatcher.js';
import { checkEventPattern, matchesEvent } from '../../src/domain/event-types.js';
import { testWebhookSecret } from './webhook-receiver.js';

const dir = mkdtempSync(join(tmpdir(), 'bosun-webhook-config-'));
const hook = (over: Record<string, unknown>) => ({
  id: 'feed',
  url: 'https://hooks.example.test/bosun',
  events: ['build.*'],
  secret: testWebhookSecret,
  ...over,
});
const load = (webhooks: unknown[]) => loadConfig({}, { dataDir: dir, webhooks } as never);

test('signatures verify with the Standard Webhooks reference library, and a changed byte does not', () => {
  const body = JSON.stringify({
    id: '1765000000000-0',
    type: 'build.status',
    timestamp: '2026-12-06T10:00:00.000Z',
    data: { buildId: '1', status: 'success' },
  });
  const now = Math.floor(Date.now() / 1000);
  const headers = signWebhook(testWebhookSecret, '1765000000000-0', now, body);
  assert.match(headers['webhook-signature']!, /^v1,[A-Za-z0-9+/]+=*$/);
  const wh = new Webhook(testWebhookSecret);
  assert.deepEqual(wh.verify(body, headers), JSON.parse(body));
  assert.throws(() => wh.verify(body.replace('success', 'failed!'), headers));
  assert.throws(() => wh.verify(body, { ...headers, 'webhook-id': '1765000000000-1' }));
  assert.throws(() => new Webhook(`whsec_${Buffer.alloc(32, 7).toString('base64')}`).verify(body, headers), 'another secret');
  assert.throws(() => wh.verify(body, signWebhook(testWebhookSecret, '1765000000000-0', now - 3600, body)), 'an old timestamp');
});

const refused: [string, Record<string, unknown>, RegExp][] = [
  ['a secret without the whsec_ prefix', { secret: 'plain-secret-that-is-long-enough' }, /secret: expected whsec_/],
  ['a secret shorter than 24 bytes', { secret: `whsec_${Buffer.alloc(16).toString('base64')}` }, /secret: expected whsec_/],
  ['an unknown event type', { events: ['step.finished'] }, /events\.0: unknown event type "step\.finished"/],
  ['a family that matches nothing', { events: ['deploys.*'] }, /events\.0: "deploys\.\*" matches no event type/],
  ['no events', { events: [] }, /events/],
  ['a non-http URL', { url: 'ftp://example.test/x' }, /url: expected an http/],
  ['both secret and secretFile', { secretFile: '/etc/hostname' }, /exactly one of secret and secretFile/],
  ['neither secret nor secretFile', { secret: undefined }, /exactly one of secret and secretFile/],
  ['a secretFile that does not exist', { secret: undefined, secretFile: join(dir, 'missing') }, /secretFile: .*does not exist/],
  ['an id with upper case', { id: 'Feed' }, /id: expected lower-case/],
  ['an unknown key', { retries: 3 }, /retries|Unrecognized/],
];
for (const [name, over, message] of refused) {
  test(`webhook config refuses ${name}`, () => {
    assert.throws(
      () => load([hook(over)]),
      (err: Error) => message.test(err.message) && /^invalid server config: webhooks\.0/.test(err.message),
    );
  });
}

test('webhook config refuses two endpoints with one id', () => {
  assert.throws(() => load([hook({}), hook({})]), /webhooks\.1\.id: duplicate webhook id "feed"/);
});

test('a secretFile is read when the config loads', () => {
  const file = join(dir, 'secret');
  writeFileSync(file, `${testWebhookSecret}\n`);
  const config = load([hook({ secret: undefined, secretFile: file })]);
  assert.equal(config.webhooks[0]!.secret, testWebhookSecret);
  assert.equal(config.webhookDelivery.disableAfterSec, 86_400);
});

test('event patterns: exact types, families and *', () => {
  assert.equal(checkEventPattern('lease.*'), null);
  assert.equal(checkEventPattern('*'), null);
  assert.ok(matchesEvent(['build.*'], 'build.status'));
  assert.ok(!matchesEvent(['build.*'], 'step.status'));
  assert.ok(matchesEvent(['step.status'], 'step.status'));
  assert.ok(matchesEvent(['*'], 'log.chunk'));
});

test('backoff doubles from the base up to the cap, with jitter in the upper half', () => {
  for (let n = 1; n <= 12; n++) {
    const full = Math.min(60_000, 1000 * 2 ** (n - 1));
    for (let i = 0; i < 20; i++) {
      const d = backoffMs(n, 1000, 60_000);
      assert.ok(d >= full / 2 && d <= full, `attempt ${n}: ${d}`);
    }
  }
});

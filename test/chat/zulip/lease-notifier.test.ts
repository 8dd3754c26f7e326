import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ZulipLeaseNotifier } from '../../../src/chat/zulip/lease-notifier.js';
import type { ZulipApi, ZulipDestination } from '../../../src/chat/zulip/zulip-api.js';
import type { StoredEvent } from '../../../src/domain/build-event.js';

function recordingApi() {
  const sent: { to: ZulipDestination; content: string }[] = [];
  const api = { send: async (to: ZulipDestination, content: string) => (sent.push({ to, content }), sent.length) } as unknown as ZulipApi;
  return { api, sent };
}

const seen = new Set<string>();
const firstSeen = async (k: string) => (seen.has(k) ? false : (seen.add(k), true));
const bob = { id: 'zulip:chat.test/12', name: 'bob' };
const base = { at: '2026-11-28T00:00:00Z' };

test('leases: a Zulip holder hears of a grant by DM, once per event, escaped, with the release command', async () => {
  const { api, sent } = recordingApi();
  const n = new ZulipLeaseNotifier(api, 'chat.test', '@**Bosun**', firstSeen);
  const ev = {
    ...base,
    id: '1-0',
    type: 'lease.granted',
    leaseId: 'L-2',
    pool: 'android',
    item: 'pixel-1',
    attributes: [],
    holder: bob,
    expiresAt: 'x',
    token: 7,
    text: 'bob: pixel-1 @**all** is yours (L-2)',
  } as StoredEvent;
  await n.handle(ev);
  await n.handle(ev);
  assert.deepEqual(sent, [{ to: { userIds: [12] }, content: 'bob: pixel-1 @\u200b**all** is yours (L-2)\nGive it back: `@**Bosun** release L-2`' }]);
});

test('leases: the reminder names the renew and release commands; expiry is told too', async () => {
  const { api, sent } = recordingApi();
  const n = new ZulipLeaseNotifier(api, 'chat.test', '@**Bosun**', firstSeen);
  await n.handle({
    ...base,
    id: '2-0',
    type: 'lease.reminder',
    leaseId: 'L-2',
    pool: 'android',
    item: 'pixel-1',
    holder: bob,
    expiresAt: 'x',
    actions: { extend: 'renew L-2', release: 'release L-2' },
    text: 'L-2 ends soon',
  } as StoredEvent);
  await n.handle({
    ...base,
    id: '3-0',
    type: 'lease.expired',
    leaseId: 'L-2',
    pool: 'android',
    item: 'pixel-1',
    holder: bob,
    text: 'L-2 on pixel-1 expired',
  } as StoredEvent);
  assert.match(sent[0]!.content, /Extend: `@\*\*Bosun\*\* renew L-2` · Release: `@\*\*Bosun\*\* release L-2`/);
  assert.equal(sent[1]!.content, 'L-2 on pixel-1 expired');
});

test('leases: pipeline leases, Slack holders and holders of another realm get no Zulip DM', async () => {
  const { api, sent } = recordingApi();
  const n = new ZulipLeaseNotifier(api, 'chat.test', '@**Bosun**', firstSeen);
  const grant = { ...base, type: 'lease.granted', leaseId: 'L-3', pool: 'android', item: 'p', attributes: [], expiresAt: 'x', token: 1, text: 't' };
  await n.handle({ ...grant, id: '4-0', holder: bob, buildId: '4' } as StoredEvent);
  await n.handle({ ...grant, id: '5-0', holder: { id: 'slack:T1/U1', name: 's' } } as StoredEvent);
  await n.handle({ ...grant, id: '6-0', holder: { id: 'zulip:other.test/12', name: 'o' } } as StoredEvent);
  assert.deepEqual(sent, []);
});

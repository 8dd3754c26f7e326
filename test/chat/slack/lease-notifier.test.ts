import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LeaseNotifier } from '../../../src/chat/slack/lease-notifier.js';
import type { SlackApi } from '../../../src/chat/slack/slack-api.js';
import type { StoredEvent } from '../../../src/domain/build-event.js';

function recordingApi() {
  const calls: { method: string; args: unknown }[] = [];
  const api = {
    chat: {
      postMessage: async (args: unknown) => (calls.push({ method: 'chat.postMessage', args }), { ts: '1' }),
      update: async () => undefined,
      postEphemeral: async () => undefined,
    },
    conversations: { open: async (args: { users: string }) => (calls.push({ method: 'conversations.open', args }), { channel: { id: `D-${args.users}` } }) },
    filesUploadV2: async () => undefined,
  } as unknown as SlackApi;
  return { api, calls };
}

const seen = new Set<string>();
const firstSeen = async (k: string) => (seen.has(k) ? false : (seen.add(k), true));
const bob = { id: 'slack:T1/UBOB', name: 'bob' };
const base = { at: '2026-11-28T00:00:00Z' };

test('a Slack holder is told of a grant from the wait list by DM, once per event', async () => {
  const { api, calls } = recordingApi();
  const n = new LeaseNotifier(api, firstSeen);
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
    text: 'bob: you have pixel-1 <!channel> until 12:00 (L-2)',
  } as StoredEvent;

  await n.handle(ev);
  await n.handle(ev);

  assert.deepEqual(
    calls.map((c) => c.method),
    ['conversations.open', 'chat.postMessage'],
  );
  assert.deepEqual(calls[1]!.args, { channel: 'D-UBOB', text: 'bob: you have pixel-1 &lt;!channel&gt; until 12:00 (L-2)' });
});

test('a reminder names the commands that extend or release it', async () => {
  const { api, calls } = recordingApi();
  await new LeaseNotifier(api, firstSeen).handle({
    ...base,
    id: '2-0',
    type: 'lease.reminder',
    leaseId: 'L-2',
    pool: 'android',
    item: 'pixel-1',
    holder: bob,
    expiresAt: 'x',
    actions: { extend: 'renew L-2 1h', release: 'release L-2' },
    text: 'L-2 ends in 10 min',
  } as StoredEvent);
  assert.match((calls[1]!.args as { text: string }).text, /Extend: `\/ci renew L-2 1h` · Release: `\/ci release L-2`/);
});

test('pipeline leases and non-Slack holders get no DM', async () => {
  const { api, calls } = recordingApi();
  const n = new LeaseNotifier(api, firstSeen);
  await n.handle({
    ...base,
    id: '3-0',
    type: 'lease.granted',
    leaseId: 'L-3',
    pool: 'android',
    item: 'p',
    attributes: [],
    holder: bob,
    expiresAt: 'x',
    token: 1,
    text: 't',
    buildId: '4',
  } as StoredEvent);
  await n.handle({
    ...base,
    id: '4-0',
    type: 'lease.granted',
    leaseId: 'L-4',
    pool: 'android',
    item: 'p',
    attributes: [],
    holder: { id: 'cli:alice', name: 'alice' },
    expiresAt: 'x',
    token: 1,
    text: 't',
  } as StoredEvent);
  assert.deepEqual(calls, []);
});

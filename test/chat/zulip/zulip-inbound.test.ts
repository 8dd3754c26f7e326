import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ZulipInbound, type ZulipInboundDeps } from '../../../src/chat/zulip/zulip-inbound.js';
import type { ZulipMessage } from '../../../src/chat/zulip/zulip-api.js';
import { silentLogger } from '../../../src/logger.js';

const inbound = new ZulipInbound({
  bot: { userId: 100, fullName: 'Bosun CI' },
  commandPrefix: '/ci',
  realmHost: 'chat.test',
  log: silentLogger(),
} as unknown as ZulipInboundDeps);
const msg = (content: string, type: 'stream' | 'private' = 'stream', sender = 7): ZulipMessage => ({
  id: 1,
  sender_id: sender,
  sender_full_name: 'Dana',
  content,
  type,
  display_recipient: type === 'stream' ? 'ci' : [{ id: 7 }],
  subject: 't',
});

const cases: { name: string; content: string; type?: 'stream' | 'private'; flags?: string[]; sender?: number; expected: string | null }[] = [
  { name: 'a mention in a stream is a command', content: '@**Bosun CI** build demo#master', flags: ['mentioned'], expected: 'build demo#master' },
  { name: 'a mention with the user id is a command', content: '@**Bosun CI|100** pass 42', flags: ['mentioned'], expected: 'pass 42' },
  { name: 'a plain-text @name is a command', content: '@bosun-ci lease device', expected: 'lease device' },
  { name: "the organisation's prefix is a command", content: '/ci status', expected: 'status' },
  { name: 'a DM needs no mention', content: 'build demo', type: 'private', expected: 'build demo' },
  { name: 'a DM may still start with the mention', content: '@**Bosun CI** help', type: 'private', expected: 'help' },
  { name: 'a stream message not addressed to Bosun is not a command', content: 'build demo#master please', expected: null },
  { name: 'a wildcard mention is not addressed to Bosun', content: '@**all** build demo', flags: ['wildcard_mentioned'], expected: null },
  { name: 'a silent mention does not count', content: 'thanks @_**Someone**_', expected: null },
  { name: "Bosun's own messages are never commands", content: '@**Bosun CI** build demo', type: 'private', sender: 100, expected: null },
];
for (const c of cases) {
  test(`inbound: ${c.name}`, () => {
    assert.equal(inbound.commandText(msg(c.content, c.type, c.sender), c.flags ?? []), c.expected);
  });
}

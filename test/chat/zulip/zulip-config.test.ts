import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config.js';
import { streamFor } from '../../../src/chat/zulip/zulip-frontend.js';

const dataDir = '/tmp/bosun-cfg';

test('config: ZULIP_* env turns the Zulip front end on in event-queue mode; the API key may come from a file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bosun-zulip-'));
  writeFileSync(join(dir, 'key'), 'key-from-file\n');
  const config = loadConfig(
    { ZULIP_REALM: 'https://chat.example.com', ZULIP_EMAIL: 'bosun-bot@chat.example.com', ZULIP_API_KEY_FILE: join(dir, 'key') },
    { dataDir },
  );
  assert.equal(config.zulip?.mode, 'events');
  assert.equal(config.zulip?.apiKey, 'key-from-file');
  assert.equal(config.zulip?.logEditIntervalMs, 1000);
  assert.equal(loadConfig({}, { dataDir }).zulip, undefined, 'no ZULIP_* and no zulip section: Zulip is off');
});

const invalid: [string, Record<string, string>, RegExp][] = [
  ['a realm that is not a URL', { ZULIP_REALM: 'chat.example.com', ZULIP_EMAIL: 'b@x', ZULIP_API_KEY: 'k' }, /zulip\.realm: expected the site URL/],
  ['no API key', { ZULIP_REALM: 'https://chat.example.com', ZULIP_EMAIL: 'b@x' }, /zulip\.apiKey/],
  [
    'webhook mode without its token',
    { ZULIP_REALM: 'https://chat.example.com', ZULIP_EMAIL: 'b@x', ZULIP_API_KEY: 'k', ZULIP_MODE: 'webhook' },
    /zulip\.webhookToken: webhook mode needs/,
  ],
  ['an unknown mode', { ZULIP_REALM: 'https://chat.example.com', ZULIP_EMAIL: 'b@x', ZULIP_API_KEY: 'k', ZULIP_MODE: 'socket' }, /zulip\.mode/],
];
test('config: approver groups take Zulip ids of the configured realm only, by user id', () => {
  const zulip = { realm: 'https://chat.example.com', email: 'b@x', apiKey: 'k' };
  const ok = loadConfig({}, { dataDir, zulip, groups: { qa: ['zulip:chat.example.com/42', 'slack:T1/U1'] } });
  assert.deepEqual(ok.groups.qa, ['zulip:chat.example.com/42', 'slack:T1/U1']);
  assert.throws(
    () => loadConfig({}, { dataDir, zulip, groups: { qa: ['zulip:dana@example.com'] } }),
    /groups\.qa\.0: "zulip:dana@example.com": Zulip ids are zulip:<realm host>\/<user id>/,
  );
  assert.throws(
    () => loadConfig({}, { dataDir, zulip, groups: { qa: ['slack:T1/U1', 'zulip:other.example.com/42'] } }),
    /groups\.qa\.1: "zulip:other.example.com\/42" is not of this Zulip realm \(chat.example.com\)/,
  );
});

for (const [name, env, message] of invalid) {
  test(`config: Zulip with ${name} fails fast naming the field`, () => {
    assert.throws(() => loadConfig(env, { dataDir }), message);
  });
}

const actor = { id: 'zulip:chat.example.com/7', name: 'dev' };
const cases: [string, Parameters<typeof streamFor>[1], string | null][] = [
  [
    'the repository stream wins',
    { repo: 'demo', trigger: { event: 'manual', source: 'zulip', actor, chat: { platform: 'zulip', channel: 'stream:asks', thread: 't' } } },
    'ci-demo',
  ],
  [
    'else the stream the build was asked in',
    { repo: 'api', trigger: { event: 'manual', source: 'zulip', actor, chat: { platform: 'zulip', channel: 'stream:asks', thread: 't' } } },
    'asks',
  ],
  [
    'else the default stream (a DM, the CLI, GitHub)',
    { repo: 'api', trigger: { event: 'manual', source: 'zulip', actor, chat: { platform: 'zulip', channel: 'dm:7' } } },
    'ci',
  ],
  [
    'a Slack channel is never taken for a stream',
    { repo: 'api', trigger: { event: 'manual', source: 'slack', actor, chat: { platform: 'slack', channel: 'stream:C1' } } },
    'ci',
  ],
];
for (const [name, build, expected] of cases) {
  test(`stream of a build's topic: ${name}`, () => {
    assert.equal(streamFor({ streams: { demo: 'ci-demo' }, defaultStream: 'ci' }, build), expected);
  });
}
test("stream of a build's topic: none when nothing is configured and it was not asked in a stream", () => {
  assert.equal(streamFor({ streams: {} }, { repo: 'api', trigger: { event: 'manual', source: 'cli', actor } }), null);
});

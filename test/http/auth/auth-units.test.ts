import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignedCodec, newSession, readSession } from '../../../src/http/auth/session-codec.js';
import { scopeForCommand } from '../../../src/http/auth/command-scope.js';
import { safeNext } from '../../../src/http/auth/auth-routes.js';
import { loadConfig } from '../../../src/config.js';

const oldKey = 'old-key-0123456789abcdef0123456789abcdef';
const newKey = 'new-key-0123456789abcdef0123456789abcdef';

test('session cookies: signed by the first key, verified by any (rotation), refused once the key is dropped', () => {
  const session = newSession({ id: 'github:1', name: 'a' }, 3600);
  const byOld = new SignedCodec([oldKey]).sign('session', session);
  assert.deepEqual(readSession(new SignedCodec([newKey, oldKey]), byOld), session, 'still valid while the old key verifies');
  assert.equal(readSession(new SignedCodec([newKey]), byOld), null, 'dead once the old key is removed');
  const byNew = new SignedCodec([newKey, oldKey]).sign('session', session);
  assert.deepEqual(readSession(new SignedCodec([newKey]), byNew), session);
});

test('session cookies: expired, tampered, or signed for another purpose are nobody', () => {
  const codec = new SignedCodec([newKey]);
  const session = newSession({ id: 'github:1', name: 'a' }, 60, Date.now());
  const text = codec.sign('session', session);
  assert.equal(readSession(codec, text, Date.now() + 61_000), null, 'expired');
  assert.equal(readSession(codec, `${text.slice(0, -2)}xx`), null, 'MAC changed');
  assert.equal(readSession(codec, codec.sign('login', session)), null, 'a login cookie is not a session');
  assert.equal(readSession(codec, 'garbage'), null);
  assert.equal(readSession(codec, undefined), null);
});

for (const [line, scope] of [
  ['status', 'read'],
  ['logs 12 test/unit', 'read'],
  ['leases', 'read'],
  ['help', 'read'],
  ['nonsense', 'read'],
  ['build demo#master', 'build'],
  ['cancel 3', 'build'],
  ['stop 3', 'build'],
  ['retry 3', 'build'],
  ['lease phones', 'build'],
  ['release phones', 'build'],
  ['pass 3 deploy', 'approve'],
  ['fail 3 deploy', 'approve'],
] as const) {
  test(`POST /api/commands "${line}" needs the ${scope} scope`, () => {
    assert.equal(scopeForCommand(line), scope);
  });
}

for (const [next, expected] of [
  ['/builds/3', '/builds/3'],
  ['/', '/'],
  ['//evil.example', '/'],
  ['/\\evil.example', '/'],
  ['https://evil.example/', '/'],
  [undefined, '/'],
  ['builds', '/'],
] as const) {
  test(`after sign-in, next=${String(next)} goes to ${expected}`, () => {
    assert.equal(safeNext(next), expected);
  });
}

test('auth config: http:// providers only on loopback, group rules name a group, short session keys refused', () => {
  const slack = (issuer: string) => ({ auth: { slack: { clientId: 'c', clientSecret: 's', issuer } } });
  assert.equal(loadConfig({}, { dataDir: '/tmp/x', ...slack('http://127.0.0.1:5556') }).auth.slack?.issuer, 'http://127.0.0.1:5556');
  assert.throws(() => loadConfig({}, { dataDir: '/tmp/x', ...slack('http://idp.example.com') }), /auth\.slack\.issuer: expected an https:\/\/ URL/);
  assert.throws(() => loadConfig({}, { dataDir: '/tmp/x', auth: { allow: ['group:nobody'] } }), /auth\.allow\.0: "group:nobody": no such group/);
  assert.throws(() => loadConfig({}, { dataDir: '/tmp/x', auth: { sessionKeys: ['short'] } }), /at least 32 characters/);
  assert.deepEqual(loadConfig({ BOSUN_SESSION_KEYS: `${newKey}, ${oldKey}` }, { dataDir: '/tmp/x' }).auth.sessionKeys, [newKey, oldKey]);
  const defaults = loadConfig({}, { dataDir: '/tmp/x' }).auth;
  assert.deepEqual(defaults.configTokenScopes, ['read', 'build', 'approve']);
  assert.equal(defaults.sessionTtlSec, 43200);
});

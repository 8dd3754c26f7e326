import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireSecrets, signBody, verifySignature } from '../../src/github/verify-signature.js';
import { UserError } from '../../src/errors.js';

const vectorSecret = "It's a Secret to Everybody";
const vectorBody = Buffer.from('Hello, World!');
const vectorSig = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';

test("GitHub's published vector verifies", () => {
  assert.equal(signBody(vectorSecret, vectorBody), vectorSig);
  assert.equal(verifySignature([vectorSecret], vectorBody, vectorSig), true);
});

const flipped = vectorSig.slice(0, -1) + (vectorSig.endsWith('7') ? '6' : '7');
for (const [name, body, header] of [
  ['a flipped bit in the digest is refused', vectorBody, flipped],
  ['a flipped bit in the body is refused', Buffer.from('Hello, World"'), vectorSig],
  ['a sha1= prefix is refused', vectorBody, vectorSig.replace('sha256=', 'sha1=')],
  ['a truncated digest is refused', vectorBody, vectorSig.slice(0, -2)],
  ['an upper-case digest is refused', vectorBody, vectorSig.toUpperCase()],
  ['a missing header is refused', vectorBody, undefined],
  ['an empty header is refused', vectorBody, ''],
] as const) {
  test(name, () => assert.equal(verifySignature([vectorSecret], body, header), false));
}

test('old and new secrets both verify during a rotation', () => {
  assert.equal(verifySignature(['old-secret', 'new-secret'], vectorBody, signBody('old-secret', vectorBody)), true);
  assert.equal(verifySignature(['old-secret', 'new-secret'], vectorBody, signBody('new-secret', vectorBody)), true);
  assert.equal(verifySignature(['old-secret', 'new-secret'], vectorBody, signBody('other', vectorBody)), false);
});

test('an empty secret, or none, refuses to start', () => {
  assert.throws(() => requireSecrets([]), (e: unknown) => e instanceof UserError && e.code === 'config_invalid');
  assert.throws(() => requireSecrets(['good', '']), (e: unknown) => e instanceof UserError && e.code === 'config_invalid');
  assert.deepEqual(requireSecrets(['a', 'b']), ['a', 'b']);
});

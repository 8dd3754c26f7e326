import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireSecrets, WebhookVerifier } from '../../src/github/webhook-verifier.js';
import { signBody } from '../fakes/github-signature.js';
import { UserError } from '../../src/errors.js';

const vectorSecret = "It's a Secret to Everybody";
const vectorBody = Buffer.from('Hello, World!');
const vectorSig = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
const verifier = new WebhookVerifier([vectorSecret]);

test("GitHub's published vector verifies", async () => {
  assert.equal(signBody(vectorSecret, vectorBody), vectorSig);
  assert.equal(await verifier.verify(vectorBody, vectorSig), true);
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
  ['an empty body is refused', Buffer.alloc(0), signBody(vectorSecret, '')],
] as const) {
  test(name, async () => assert.equal(await verifier.verify(body, header), false));
}

test('a body that is not valid UTF-8 is refused even when its bytes are signed', async () => {
  const bytes = Buffer.from([0x7b, 0xff, 0x7d]);
  assert.equal(await verifier.verify(bytes, signBody(vectorSecret, bytes)), false);
  // The lossy decoding of those bytes must not verify either.
  assert.equal(await verifier.verify(Buffer.from(bytes.toString('utf8')), signBody(vectorSecret, bytes)), false);
});

test('old and new secrets both verify during a rotation', async () => {
  const both = new WebhookVerifier(['old-secret', 'new-secret']);
  assert.equal(await both.verify(vectorBody, signBody('old-secret', vectorBody)), true);
  assert.equal(await both.verify(vectorBody, signBody('new-secret', vectorBody)), true);
  assert.equal(await both.verify(vectorBody, signBody('other', vectorBody)), false);
});

test('an empty secret, or none, refuses to start', () => {
  assert.throws(
    () => requireSecrets([]),
    (e: unknown) => e instanceof UserError && e.code === 'config_invalid',
  );
  assert.throws(
    () => requireSecrets(['good', '']),
    (e: unknown) => e instanceof UserError && e.code === 'config_invalid',
  );
  assert.throws(
    () => new WebhookVerifier(['']),
    (e: unknown) => e instanceof UserError && e.code === 'config_invalid',
  );
  assert.deepEqual(requireSecrets(['a', 'b']), ['a', 'b']);
});

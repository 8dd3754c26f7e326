import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verifySlackRequest } from '../../../src/chat/slack/verify-slack-request.js';
import { signSlack } from '../../fakes/fake-slack-requests.js';

const secret = 'shhh-0123456789';
const nowMs = 1_800_000_000_000;
const nowSec = nowMs / 1000;
const body = 'command=%2Fci&text=build+demo';

function check(tsOffset: number, opts: { body?: string; secret?: string; signature?: string } = {}) {
  const headers = signSlack(opts.secret ?? secret, body, nowSec + tsOffset);
  return verifySlackRequest({
    signingSecret: secret,
    signature: opts.signature ?? headers['x-slack-signature'],
    timestamp: headers['x-slack-request-timestamp'],
    body: opts.body ?? body,
    nowMs,
    windowSec: 300,
  });
}

const cases: { name: string; verdict: ReturnType<typeof check>; ok: boolean; reason?: string }[] = [
  { name: 'a fresh, correctly signed request is accepted', verdict: check(0), ok: true },
  { name: '−299 s is accepted', verdict: check(-299), ok: true },
  { name: '+299 s is accepted', verdict: check(299), ok: true },
  { name: '−301 s is refused as stale', verdict: check(-301), ok: false, reason: 'stale_or_future' },
  { name: '+301 s is refused as from the future', verdict: check(301), ok: false, reason: 'stale_or_future' },
  { name: 'a tampered body is refused', verdict: check(0, { body: `${body}x` }), ok: false, reason: 'bad_signature' },
  { name: 'another secret is refused', verdict: check(0, { secret: 'other-secret-0000' }), ok: false, reason: 'bad_signature' },
  { name: 'a truncated signature is refused', verdict: check(0, { signature: 'v0=abc' }), ok: false, reason: 'bad_signature' },
];

for (const c of cases) {
  test(`verifySlackRequest: ${c.name}`, () => {
    assert.equal(c.verdict.ok, c.ok);
    if (!c.verdict.ok) assert.equal(c.verdict.reason, c.reason);
  });
}

test('verifySlackRequest: missing or non-numeric headers are refused', () => {
  assert.deepEqual(verifySlackRequest({ signingSecret: secret, signature: undefined, timestamp: String(nowSec), body, nowMs, windowSec: 300 }), {
    ok: false,
    reason: 'missing_headers',
  });
  assert.deepEqual(verifySlackRequest({ signingSecret: secret, signature: 'v0=00', timestamp: '1e9', body, nowMs, windowSec: 300 }), {
    ok: false,
    reason: 'missing_headers',
  });
});

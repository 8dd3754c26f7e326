import { createHmac, timingSafeEqual } from 'node:crypto';

export interface SlackRequestToVerify {
  signingSecret: string;
  signature: string | undefined;
  timestamp: string | undefined;
  body: string;
  nowMs: number;
  /** Allowed clock difference, in seconds, in BOTH directions (Bolt only checks the past). */
  windowSec: number;
}

export type Verdict = { ok: true } | { ok: false; reason: 'missing_headers' | 'stale_or_future' | 'bad_signature' };

/** Slack's v0 signature: HMAC-SHA256 of `v0:<ts>:<body>`, compared in constant time, ts within ±window (R4). */
export function verifySlackRequest(req: SlackRequestToVerify): Verdict {
  if (!req.signature || !req.timestamp || !/^\d{1,12}$/.test(req.timestamp)) return { ok: false, reason: 'missing_headers' };
  const skew = Math.abs(Math.floor(req.nowMs / 1000) - Number(req.timestamp));
  if (skew > req.windowSec) return { ok: false, reason: 'stale_or_future' };
  const expected = Buffer.from(`v0=${createHmac('sha256', req.signingSecret).update(`v0:${req.timestamp}:${req.body}`).digest('hex')}`);
  const given = Buffer.from(req.signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'bad_signature' };
  return { ok: true };
}

import { isValidSlackRequest } from '@slack/bolt/dist/receivers/verify-request.js';

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

/**
 * Slack's v0 signature (R4): the timestamp within ±`windowSec` of now (checked here: Bolt only
 * refuses the past, and always with 5 minutes), then the HMAC-SHA256 of `v0:<ts>:<body>`
 * compared in constant time by Bolt's own `isValidSlackRequest`. Bolt is asked at the request's
 * own time, so its fixed staleness rule never overrides the window. Its module is loaded alone
 * (Node's crypto and tsscmp), not the rest of Bolt, which loads only when Slack is configured.
 */
export function verifySlackRequest(req: SlackRequestToVerify): Verdict {
  if (!req.signature || !req.timestamp || !/^\d{1,12}$/.test(req.timestamp)) return { ok: false, reason: 'missing_headers' };
  const timestampSec = Number(req.timestamp);
  const skew = Math.abs(Math.floor(req.nowMs / 1000) - timestampSec);
  if (skew > req.windowSec) return { ok: false, reason: 'stale_or_future' };
  const valid = isValidSlackRequest({
    signingSecret: req.signingSecret,
    body: req.body,
    headers: { 'x-slack-signature': req.signature, 'x-slack-request-timestamp': timestampSec },
    nowMilliseconds: timestampSec * 1000,
  });
  return valid ? { ok: true } : { ok: false, reason: 'bad_signature' };
}

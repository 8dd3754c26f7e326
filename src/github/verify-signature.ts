import { createHmac, timingSafeEqual } from 'node:crypto';
import { UserError } from '../errors.js';

const signatureShape = /^sha256=([0-9a-f]{64})$/;

/**
 * Checks `X-Hub-Signature-256` over the raw request bytes with every configured secret,
 * in constant time (R1). Runs before anything parses the body. `sha1=`, truncated or
 * malformed headers never match.
 */
export function verifySignature(secrets: readonly string[], body: Buffer, header: string | undefined): boolean {
  const m = header ? signatureShape.exec(header) : null;
  if (!m?.[1]) return false;
  const given = Buffer.from(m[1], 'hex');
  let ok = false;
  for (const secret of secrets) {
    const expected = createHmac('sha256', secret).update(body).digest();
    // No early exit: every secret is tried, so timing does not tell which one matched.
    if (timingSafeEqual(expected, given)) ok = true;
  }
  return ok;
}

/** The signature GitHub would send for `body`. */
export function signBody(secret: string, body: Buffer | string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Refuses an empty or missing secret: an empty HMAC key verifies anyone's forgery (R1). */
export function requireSecrets(secrets: readonly string[]): string[] {
  if (secrets.length === 0 || secrets.some((s) => s.length === 0)) {
    throw new UserError('config_invalid', 'github.webhookSecrets must hold at least one non-empty secret (GITHUB_WEBHOOK_SECRET)');
  }
  return [...secrets];
}

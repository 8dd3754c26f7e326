import { isUtf8 } from 'node:buffer';
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { UserError } from '../errors.js';

/** GitHub's header shape: `sha256=` and 64 lower-case hex digits; anything else never matches. */
const signatureShape = /^sha256=[0-9a-f]{64}$/;
const prefixLength = 'sha256='.length;

/**
 * Checks `X-Hub-Signature-256` over the raw request bytes with every configured secret (R1):
 * HMAC-SHA256 of exactly the bytes received (as `@octokit/webhooks`' `verify` and GitHub's own
 * docs do), compared with `timingSafeEqual`. Runs before anything parses the body, and
 * synchronously (no promise per secret: it is on every delivery's path). Every secret is tried,
 * with no early exit, so timing does not tell which one matched; `sha1=`, truncated, upper-case
 * or missing headers never match. A body that is not valid UTF-8 never matches either: GitHub
 * sends UTF-8 JSON.
 */
export class WebhookVerifier {
  private readonly keys: KeyObject[];

  /** Throws UserError('config_invalid') on no secret or an empty one (R1). */
  constructor(secrets: readonly string[]) {
    this.keys = requireSecrets(secrets).map((secret) => createSecretKey(Buffer.from(secret, 'utf8')));
  }

  verify(body: Buffer, header: string | undefined): boolean {
    if (!header || !signatureShape.test(header) || body.length === 0 || !isUtf8(body)) return false;
    const given = Buffer.from(header.slice(prefixLength), 'hex');
    let matched = false;
    for (const key of this.keys) {
      const expected = createHmac('sha256', key).update(body).digest();
      // Not `matched ||= …`: every secret is compared, whichever matched first.
      if (timingSafeEqual(given, expected)) matched = true;
    }
    return matched;
  }
}

/** Refuses an empty or missing secret: an empty HMAC key verifies anyone's forgery (R1). */
export function requireSecrets(secrets: readonly string[]): string[] {
  if (secrets.length === 0 || secrets.some((s) => s.length === 0)) {
    throw new UserError('config_invalid', 'github.webhookSecrets must hold at least one non-empty secret (GITHUB_WEBHOOK_SECRET)');
  }
  return [...secrets];
}

import { Webhooks } from '@octokit/webhooks';
import { UserError } from '../errors.js';

/** GitHub's header shape: `sha256=` and 64 lower-case hex digits; anything else never matches. */
const signatureShape = /^sha256=[0-9a-f]{64}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Checks `X-Hub-Signature-256` over the raw request bytes with every configured secret (R1),
 * through `@octokit/webhooks` (`Webhooks.verify`: HMAC-SHA256, `timingSafeEqual`). Runs before
 * anything parses the body. Every secret is tried, with no early exit, so timing does not tell
 * which one matched; `sha1=`, truncated, upper-case or missing headers never match. A body that
 * is not valid UTF-8 never matches either: GitHub sends UTF-8 JSON, and verifying a lossy
 * decoding would let two byte strings share a signature.
 */
export class WebhookVerifier {
  private readonly verifiers: Webhooks[];

  /** Throws UserError('config_invalid') on no secret or an empty one (R1). */
  constructor(secrets: readonly string[]) {
    this.verifiers = requireSecrets(secrets).map((secret) => new Webhooks({ secret }));
  }

  async verify(body: Buffer, header: string | undefined): Promise<boolean> {
    if (!header || !signatureShape.test(header) || body.length === 0) return false;
    let text: string;
    try {
      text = utf8.decode(body);
    } catch {
      return false;
    }
    const results = await Promise.all(this.verifiers.map((w) => w.verify(text, header).catch(() => false)));
    return results.includes(true);
  }
}

/** Refuses an empty or missing secret: an empty HMAC key verifies anyone's forgery (R1). */
export function requireSecrets(secrets: readonly string[]): string[] {
  if (secrets.length === 0 || secrets.some((s) => s.length === 0)) {
    throw new UserError('config_invalid', 'github.webhookSecrets must hold at least one non-empty secret (GITHUB_WEBHOOK_SECRET)');
  }
  return [...secrets];
}

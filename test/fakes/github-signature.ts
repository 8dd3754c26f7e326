import { createHmac } from 'node:crypto';

/** The `X-Hub-Signature-256` GitHub sends for `body` (GitHub's side of R1, for fakes and tests). */
export function signBody(secret: string, body: Buffer | string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

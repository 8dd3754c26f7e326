import { createHmac } from 'node:crypto';

/**
 * Standard Webhooks headers for one attempt: `webhook-id` (the same on every retry, so the
 * receiver can de-duplicate), `webhook-timestamp` (seconds, the time of this attempt) and
 * `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed with the
 * base64-decoded part of the `whsec_` secret.
 */
export function signWebhook(secret: string, id: string, timestampSec: number, body: string): Record<string, string> {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const signature = createHmac('sha256', key).update(`${id}.${timestampSec}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': String(timestampSec), 'webhook-signature': `v1,${signature}` };
}

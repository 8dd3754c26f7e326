import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/** What a session cookie carries: who, until when, and its CSRF token. */
export const SessionPayload = z.strictObject({
  /** Session id, for sign-out (revocation). */
  sid: z.string().min(8),
  /** Actor id (`slack:T/U`, `github:<id>`). */
  sub: z.string().min(1),
  name: z.string(),
  /** Expiry, seconds since the epoch. */
  exp: z.number().int(),
  /** Synchronizer token every state-changing request of this session must echo. */
  csrf: z.string().min(16),
});
export type SessionPayload = z.infer<typeof SessionPayload>;

/**
 * Signs and verifies small JSON values as `<base64url json>.<base64url HMAC-SHA256>`. `keys[0]`
 * signs; every key verifies (rotation). The `purpose` is mixed into the MAC so a value signed
 * for one cookie (the pending login) is never accepted as another (the session).
 */
export class SignedCodec {
  private readonly keys: Buffer[];

  constructor(keys: readonly string[]) {
    if (keys.length === 0) throw new Error('SignedCodec needs at least one key');
    this.keys = keys.map((k) => Buffer.from(k, 'utf8'));
  }

  sign(purpose: string, value: unknown): string {
    const body = Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
    return `${body}.${mac(this.keys[0] as Buffer, purpose, body).toString('base64url')}`;
  }

  /** The value, or null when the MAC does not match any key or the text is malformed. */
  verify(purpose: string, text: string | undefined): unknown {
    if (!text) return null;
    const dot = text.indexOf('.');
    if (dot <= 0) return null;
    const body = text.slice(0, dot);
    const given = Buffer.from(text.slice(dot + 1), 'base64url');
    const ok = this.keys.some((k) => {
      const expected = mac(k, purpose, body);
      return expected.length === given.length && timingSafeEqual(expected, given);
    });
    if (!ok) return null;
    try {
      return JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as unknown;
    } catch {
      return null;
    }
  }
}

function mac(key: Buffer, purpose: string, body: string): Buffer {
  return createHmac('sha256', key).update(`${purpose}\n${body}`).digest();
}

export function randomToken(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}

/** A session for `actor`, valid for `ttlSec` from `now`. */
export function newSession(actor: { id: string; name: string }, ttlSec: number, now = Date.now()): SessionPayload {
  return { sid: randomToken(12), sub: actor.id, name: actor.name, exp: Math.floor(now / 1000) + ttlSec, csrf: randomToken(24) };
}

/** A verified, unexpired session, or null. */
export function readSession(codec: SignedCodec, cookie: string | undefined, now = Date.now()): SessionPayload | null {
  const parsed = SessionPayload.safeParse(codec.verify('session', cookie));
  if (!parsed.success) return null;
  return parsed.data.exp * 1000 > now ? parsed.data : null;
}

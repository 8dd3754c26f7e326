import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { checkEventPattern } from '../../domain/event-types.js';

/** A Standard Webhooks secret: `whsec_` then the base64 of 24–64 random bytes. */
const WebhookSecret = z.string().superRefine((s, ctx) => {
  const m = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(s);
  const bytes = m?.[1] ? Buffer.from(m[1], 'base64').length : 0;
  if (!m || bytes < 24 || bytes > 64) {
    ctx.addIssue({ code: 'custom', message: 'expected whsec_ followed by the base64 of 24 to 64 random bytes (e.g. `echo whsec_$(openssl rand -base64 32)`)' });
  }
});

const EventPattern = z.string().superRefine((p, ctx) => {
  const problem = checkEventPattern(p);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/**
 * One outgoing webhook endpoint. `secret` or `secretFile` (a file holding the secret, e.g. a
 * Docker secret) — exactly one; the file is read when the config loads, so a missing file
 * stops startup. The endpoint id names its delivery state in Redis: keep it stable.
 */
export const WebhookEndpoint = z
  .strictObject({
    id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'expected lower-case letters, digits, - and _'),
    url: z.string().refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), 'expected an http:// or https:// URL'),
    events: z.array(EventPattern).min(1),
    secret: WebhookSecret.optional(),
    secretFile: z.string().min(1).optional(),
  })
  .transform((w, ctx) => {
    if ((w.secret === undefined) === (w.secretFile === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give exactly one of secret and secretFile' });
      return z.NEVER;
    }
    let secret = w.secret;
    if (w.secretFile !== undefined) {
      if (!existsSync(w.secretFile)) {
        ctx.addIssue({ code: 'custom', path: ['secretFile'], message: `${w.secretFile} does not exist` });
        return z.NEVER;
      }
      secret = readFileSync(w.secretFile, 'utf8').trim();
      const checked = WebhookSecret.safeParse(secret);
      if (!checked.success) {
        ctx.addIssue({ code: 'custom', path: ['secretFile'], message: `${w.secretFile}: ${checked.error.issues[0]?.message ?? 'invalid'}` });
        return z.NEVER;
      }
    }
    return { id: w.id, url: w.url, events: w.events, secret: secret ?? '' };
  });
export type WebhookEndpoint = z.output<typeof WebhookEndpoint>;

export const WebhookEndpoints = z.array(WebhookEndpoint).superRefine((list, ctx) => {
  const seen = new Set<string>();
  for (const [i, w] of list.entries()) {
    if (seen.has(w.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate webhook id "${w.id}"` });
    seen.add(w.id);
  }
});

/**
 * How deliveries are retried and when an endpoint is given up on. The defaults suit
 * production; tests shorten them.
 */
export const WebhookDelivery = z.strictObject({
  /** Per-request timeout; a slower answer counts as a failure. */
  timeoutMs: z.number().int().positive().default(10_000),
  /** First retry waits about this long; each further one doubles it, up to `backoffCapMs` (with jitter). */
  backoffBaseMs: z.number().int().positive().default(5_000),
  backoffCapMs: z.number().int().positive().default(3_600_000),
  /** Disabled after this many failed attempts in a row… */
  disableAfterFailures: z.number().int().positive().default(100),
  /** …or after failing for this long without a single success, whichever comes first. */
  disableAfterSec: z.number().int().positive().default(86_400),
  /** Delivery attempts kept per endpoint (newest first) for `GET /api/webhooks/:id/deliveries`. */
  logSize: z.number().int().positive().max(10_000).default(200),
  /** An endpoint with this many undelivered events is disabled rather than grow Redis without bound. */
  maxPending: z.number().int().positive().default(100_000),
});
export type WebhookDelivery = z.infer<typeof WebhookDelivery>;

import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Logger } from '../../logger.js';
import { ZulipMessage } from './zulip-api.js';

/** The outgoing-webhook payload (Zulip format), the fields Bosun reads. */
export const OutgoingWebhook = z.object({
  token: z.string(),
  trigger: z.string().default('mention'),
  message: ZulipMessage,
});
export type OutgoingWebhook = z.infer<typeof OutgoingWebhook>;

/** Chat routes take at most 1 MiB, refused before buffering (R6). */
const zulipBodyLimit = 1024 * 1024;

/** Constant-time token check: both sides hashed first, so neither length nor content leaks (R5). */
export function tokenMatches(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b) && expected.length > 0;
}

/**
 * `POST /zulip/webhook`: Zulip's outgoing-webhook bot mode. Transport only: cap the body, check
 * the bot token in constant time (401 otherwise), validate the fields used (400), answer at once
 * with `response_not_required` (Zulip waits 10 s and retries on timeout or 5xx), and hand the
 * message on; the inbound layer dedupes on `message.id`, so a retry runs nothing twice.
 */
export function zulipWebhookRoute(opts: { token: string; log: Logger; onMessage(message: ZulipMessage, trigger: string): Promise<void> }) {
  return async (server: FastifyInstance): Promise<void> => {
    server.post('/zulip/webhook', { bodyLimit: zulipBodyLimit }, async (req, reply) => {
      const token = (req.body as { token?: unknown } | null)?.token;
      if (typeof token !== 'string' || !tokenMatches(token, opts.token)) return reply.code(401).send({ result: 'error', msg: 'bad token' });
      const parsed = OutgoingWebhook.safeParse(req.body);
      if (!parsed.success) return reply.code(400).send({ result: 'error', msg: 'not a Zulip outgoing webhook payload' });
      void opts.onMessage(parsed.data.message, parsed.data.trigger).catch((err: unknown) => opts.log.warn({ err }, 'Zulip webhook message failed'));
      return reply.send({ response_not_required: true });
    });
  };
}

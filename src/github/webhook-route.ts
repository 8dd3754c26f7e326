import type { FastifyInstance } from 'fastify';
import type { HttpPlugin } from '../http/http-server.js';
import type { Logger } from '../logger.js';
import type { WebhookVerifier } from './webhook-verifier.js';
import { handledEvents, schemaFor, type HandledEvent } from './webhook-payloads.js';

export const webhookPath = '/github/webhooks';
/** GitHub caps payloads at 25 MB; we accept no more (R6). */
const webhookBodyLimit = 25 * 1024 * 1024;

/** One verified, schema-checked delivery, as handed to the inbox. */
export interface Delivery {
  id: string;
  event: HandledEvent;
  payload: unknown;
}

/**
 * Where verified deliveries go. `accept` must be idempotent per delivery id (R2): it returns
 * false for a delivery it has already taken, and must return quickly (R3).
 */
export interface DeliveryInbox {
  accept(delivery: Delivery): Promise<boolean>;
  /**
   * Whether a delivery with this id was already accepted: a read, so that a redelivery is
   * answered without parsing its payload. `accept` stays the one atomic claim (a delivery that
   * races past `seen` is still taken once).
   */
  seen(id: string): Promise<boolean>;
}

const deliveryIdShape = /^[0-9A-Za-z-]{1,64}$/;
const ActionOnly = { parse: (v: unknown) => (typeof v === 'object' && v !== null && 'action' in v && typeof v.action === 'string' ? v.action : undefined) };

/**
 * `POST /github/webhooks` in its own fastify scope: the body is kept as raw bytes (capped at
 * 25 MiB, Content-Length checked before reading), the HMAC is verified over those bytes
 * before anything parses them (R1), a delivery id already taken is acknowledged as `duplicate`
 * without parsing its payload (R2: GitHub redelivers, and a redelivery costs a signature check
 * and one Redis read), then the fields used are schema-checked (R6) and the delivery is handed
 * to the inbox and acknowledged with 202 (R3). The route is authenticated by its signature
 * alone: the auth layer's session and token lookups are skipped (`auth: 'open'`); the Redis
 * gate still answers 503 while Redis is away.
 */
export function webhookRoute(verifier: Pick<WebhookVerifier, 'verify'>, inbox: DeliveryInbox, log: Logger): HttpPlugin {
  return async (app: FastifyInstance) => {
    await app.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: webhookBodyLimit }, (_req, body, done) => done(null, body));
      scope.addHook('onRequest', (req, reply, done) => {
        const length = Number(req.headers['content-length'] ?? 0);
        if (length > webhookBodyLimit) return void reply.code(413).header('connection', 'close').send({ error: 'payload_too_large' });
        if (typeof req.headers['x-hub-signature-256'] !== 'string') return void reply.code(401).send({ error: 'signature_missing' });
        done();
      });
      scope.post(webhookPath, { bodyLimit: webhookBodyLimit, config: { auth: 'open' } }, async (req, reply) => {
        const body = req.body;
        if (!Buffer.isBuffer(body)) return reply.code(400).send({ error: 'body_missing' });
        if (!verifier.verify(body, req.headers['x-hub-signature-256'] as string | undefined)) {
          return reply.code(401).send({ error: 'signature_invalid' });
        }
        const id = header(req.headers['x-github-delivery']);
        const event = header(req.headers['x-github-event']);
        if (!id || !deliveryIdShape.test(id) || !event) return reply.code(400).send({ error: 'headers_missing' });
        if (!(event in handledEvents)) return reply.code(202).send({ ignored: 'event' });
        if (await inbox.seen(id)) return reply.code(202).send({ duplicate: id });
        let json: unknown;
        try {
          json = JSON.parse(body.toString('utf8'));
        } catch {
          return reply.code(400).send({ error: 'json_invalid' });
        }
        const actions = handledEvents[event];
        if (actions && !actions.includes(ActionOnly.parse(json) ?? '')) return reply.code(202).send({ ignored: 'action' });
        const parsed = schemaFor[event as HandledEvent].safeParse(json);
        if (!parsed.success) {
          log.child({ deliveryId: id, event }).info({ issues: parsed.error.issues.slice(0, 3).map((i) => i.path.join('.')) }, 'Malformed webhook payload');
          return reply.code(400).send({ error: 'payload_invalid', field: parsed.error.issues[0]?.path.join('.') });
        }
        const fresh = await inbox.accept({ id, event: event as HandledEvent, payload: parsed.data });
        return reply.code(202).send(fresh ? { queued: id } : { duplicate: id });
      });
    });
  };
}

function header(v: string | string[] | undefined): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

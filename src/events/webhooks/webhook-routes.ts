import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Actor } from '../../domain/build.js';
import type { EventBus } from '../event-bus.js';
import { HttpError } from '../../http/api-routes.js';
import type { WebhookEndpoint } from './webhook-config.js';
import type { WebhookStore } from './webhook-store.js';
import { outboxEntry } from './webhook-fanout.js';

const IdParams = z.object({ id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/) });
const DeliveryParams = IdParams.extend({ deliveryId: z.string().regex(/^\d{1,16}-\d{1,10}$/) });
const Limit = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) });

/** The URL as shown to API readers: no credentials, no query string (either may hold a token). */
function shownUrl(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/**
 * Webhook administration, every route behind the API token:
 * - `GET /api/webhooks`: each endpoint with its state (enabled or disabled and why, failures
 *   in a row, pending deliveries, last answer);
 * - `GET /api/webhooks/:id/deliveries`: the capped delivery log, newest first;
 * - `POST /api/webhooks/:id/deliveries/:deliveryId/redeliver`: queue that event again
 *   (same `webhook-id`), behind what is waiting;
 * - `POST /api/webhooks/:id/enable`: re-enable a disabled endpoint.
 */
export function registerWebhookRoutes(
  app: FastifyInstance,
  deps: {
    endpoints: readonly WebhookEndpoint[];
    store: WebhookStore;
    bus: EventBus;
    auth(header: string | undefined): Actor | null;
    wake(id: string): void;
    audit(action: string, actor: Actor, detail: string): Promise<void>;
  },
): void {
  const requireActor = (req: FastifyRequest): Actor => {
    const actor = deps.auth(req.headers.authorization);
    if (!actor) throw new HttpError(401, 'unauthorized', 'a valid API token is required (Authorization: Bearer …)');
    return actor;
  };
  const endpointOf = (req: FastifyRequest): WebhookEndpoint => {
    const p = IdParams.safeParse(req.params);
    const endpoint = p.success ? deps.endpoints.find((e) => e.id === p.data.id) : undefined;
    if (!endpoint) throw new HttpError(404, 'unknown_webhook', 'no such webhook in the server config');
    return endpoint;
  };

  app.get('/api/webhooks', async (req) => {
    requireActor(req);
    const webhooks = await Promise.all(
      deps.endpoints.map(async (e) => ({
        id: e.id,
        url: shownUrl(e.url),
        events: e.events,
        pending: await deps.store.pending(e.id),
        ...(await deps.store.state(e.id)),
      })),
    );
    return { webhooks };
  });

  app.get('/api/webhooks/:id/deliveries', async (req) => {
    requireActor(req);
    const endpoint = endpointOf(req);
    const q = Limit.safeParse(req.query);
    if (!q.success) throw new HttpError(400, 'bad_request', 'limit: expected 1 to 1000');
    return { deliveries: await deps.store.deliveries(endpoint.id, q.data.limit) };
  });

  app.post('/api/webhooks/:id/deliveries/:deliveryId/redeliver', async (req, reply) => {
    const actor = requireActor(req);
    const endpoint = endpointOf(req);
    const p = DeliveryParams.safeParse(req.params);
    if (!p.success) throw new HttpError(400, 'bad_request', 'deliveryId: expected an event id like 1765000000000-0');
    const [event] = await deps.bus.range(previousId(p.data.deliveryId), 1);
    if (!event || event.id !== p.data.deliveryId) throw new HttpError(404, 'unknown_delivery', `event ${p.data.deliveryId} is no longer on the event stream`);
    await deps.store.requeue(endpoint.id, { ...outboxEntry(event), redelivery: true });
    await deps.audit('webhook.redeliver', actor, `${endpoint.id} ${event.id}`);
    deps.wake(endpoint.id);
    return reply.code(202).send({ queued: event.id, pending: await deps.store.pending(endpoint.id) });
  });

  app.post('/api/webhooks/:id/enable', async (req) => {
    const actor = requireActor(req);
    const endpoint = endpointOf(req);
    await deps.store.enable(endpoint.id);
    await deps.audit('webhook.enable', actor, endpoint.id);
    deps.wake(endpoint.id);
    return { id: endpoint.id, ...(await deps.store.state(endpoint.id)), pending: await deps.store.pending(endpoint.id) };
  });
}

/** The id just before `id`, for an exclusive range read that starts at `id`. */
function previousId(id: string): string {
  const [ms = '0', seq = '0'] = id.split('-');
  if (seq !== '0') return `${ms}-${BigInt(seq) - 1n}`;
  return `${BigInt(ms) - 1n}-18446744073709551615`;
}

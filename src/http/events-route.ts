import type { FastifyInstance, FastifyRequest } from 'fastify';
import { checkEventPattern, matchesEvent } from '../domain/event-types.js';
import type { EventBus } from '../events/event-bus.js';
import { HttpError } from './api-routes.js';
import { openSse } from './sse.js';

const eventId = /^\d{1,16}-\d{1,10}$/;

/**
 * `GET /api/events`: every event on the stream (all builds, leases, webhooks) as server-sent
 * events, each with its stream id as the SSE `id`. Needs the `read` scope (a session or a
 * token), since it spans every repository. Resumable: a `Last-Event-ID` header (what EventSource sends on reconnect) or an
 * `after` query parameter continues right after that event, with no gap and no repeat while the
 * event is still on the stream; if the stream was trimmed past it (events may be missing), an
 * `events.gap` event says from where it resumes. Without either, it starts from now. `types=build.*,lease.*` filters.
 */
export function registerEventsRoute(app: FastifyInstance, deps: { bus: EventBus; canRead(req: FastifyRequest): boolean }): void {
  app.get('/api/events', async (req, reply) => {
    if (!deps.canRead(req)) throw new HttpError(401, 'unauthorized', 'sign in or use an API token with the read scope (Authorization: Bearer …)');
    const query = req.query as Record<string, unknown>;
    const header = req.headers['last-event-id'];
    const after = typeof header === 'string' && header !== '' ? header : typeof query.after === 'string' ? query.after : undefined;
    if (after !== undefined && !eventId.test(after)) throw new HttpError(400, 'bad_request', 'Last-Event-ID: expected an event id like 1765000000000-0');
    const types = typeof query.types === 'string' && query.types !== '' ? query.types.split(',').map((t) => t.trim()) : ['*'];
    for (const t of types) {
      const problem = checkEventPattern(t);
      if (problem) throw new HttpError(400, 'bad_request', `types: ${problem}`);
    }
    const from = after ?? (await deps.bus.lastId());
    const sse = openSse(req, reply);
    if (after !== undefined) {
      const [first] = await deps.bus.range('-', 1);
      if (first && compare(first.id, after) > 0) sse.send('events.gap', { after, resumesAt: first.id });
    }
    for await (const event of deps.bus.tail(from, sse.signal)) {
      if (matchesEvent(types, event.type)) sse.send(event.type, event, event.id);
    }
    sse.end();
  });
}

function compare(a: string, b: string): number {
  const [am = 0n, as = 0n] = a.split('-').map((x) => BigInt(x));
  const [bm = 0n, bs = 0n] = b.split('-').map((x) => BigInt(x));
  return am !== bm ? (am > bm ? 1 : -1) : as === bs ? 0 : as > bs ? 1 : -1;
}

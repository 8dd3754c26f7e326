import type { EventBus } from '../event-bus.js';
import type { StoredEvent } from '../../domain/build-event.js';
import { matchesEvent } from '../../domain/event-types.js';
import type { Logger } from '../../logger.js';
import type { WebhookEndpoint } from './webhook-config.js';
import type { OutboxEntry, WebhookStore } from './webhook-store.js';

/**
 * The JSON body of a webhook, Standard Webhooks style: `type` and `timestamp` (when the event
 * happened) at the top, the event's own fields under `data`. `id` is the event's stream id,
 * also sent as `webhook-id`.
 */
function webhookBody(event: StoredEvent): string {
  const { id, at, type, ...data } = event;
  return JSON.stringify({ id, type, timestamp: at, data });
}

export function outboxEntry(event: StoredEvent): OutboxEntry {
  return { eventId: event.id, type: event.type, body: webhookBody(event) };
}

/**
 * Reads the durable event stream and queues each event into the outbox of every endpoint
 * that subscribes to its type. It does not use a consumer group: each endpoint keeps its own
 * cursor in Redis, moved in the same atomic step that queues the event (WebhookStore.enqueue),
 * so a crash at any point neither loses nor doubles an event, and several server processes
 * may run it at once. A new endpoint starts at the stream's end.
 */
export function startWebhookFanout(deps: {
  bus: EventBus;
  store: WebhookStore;
  endpoints: readonly WebhookEndpoint[];
  maxPending: number;
  log: Logger;
  /** Called after an event was queued for at least one endpoint (wakes the dispatchers). */
  onQueued(): void;
}): { stop(): Promise<void> } {
  const { bus, store, endpoints, log } = deps;
  const controller = new AbortController();
  const run = (async () => {
    const last = await bus.lastId();
    for (const e of endpoints) await store.initCursor(e.id, last);
    while (!controller.signal.aborted) {
      try {
        const cursors = await Promise.all(endpoints.map((e) => store.cursor(e.id)));
        for await (const event of bus.tail(oldest(cursors), controller.signal)) {
          const targets = endpoints.map((e) => ({ id: e.id, matches: matchesEvent(e.events, event.type) }));
          if (!targets.some((t) => t.matches)) continue;
          if ((await store.enqueue(targets, outboxEntry(event), deps.maxPending)) > 0) deps.onQueued();
        }
      } catch (err) {
        if (controller.signal.aborted) break;
        log.warn({ err }, 'Webhook fan-out failed; resuming from the stored cursors');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  })().catch((err: unknown) => log.error({ err }, 'Webhook fan-out stopped'));
  return {
    async stop() {
      controller.abort();
      await run;
    },
  };
}

function oldest(ids: string[]): string {
  let min = ids[0] ?? '0-0';
  for (const id of ids) if (compareIds(id, min) < 0) min = id;
  return min;
}

function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am !== bm ? am - bm : as - bs;
}

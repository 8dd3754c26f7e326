import type { Redis } from 'ioredis';
import { quiet } from '../storage/redis-connection.js';
import type { BuildEvent, StoredEvent } from '../domain/build-event.js';
import type { Logger } from '../logger.js';
import { keys as makeKeys } from '../storage/keys.js';

/** Something that reacts to events: a reporter (GitHub, Slack, webhooks) or a UI feed. */
export interface EventHandler {
  /** Stable name; also the Redis consumer-group name, so progress survives restarts. */
  readonly name: string;
  handle(event: StoredEvent): Promise<void>;
}

/**
 * The durable event stream (a Redis Stream). Writers are the build store's Lua scripts
 * (atomic with state) and `publish` for events with no build write (leases, deploys).
 *
 * Contract:
 * - Delivery to a subscriber is at-least-once, in stream order, one event at a time.
 * - A handler that throws is logged and the event is acknowledged anyway: a reporter's
 *   failure never blocks the stream or fails a build (reporters retry inside themselves).
 * - `subscribe` starts from the group's last acknowledged position; a new group starts at the
 *   stream's end (`$`) unless `fromStart`.
 * - `tail` is an unacknowledged live read for UIs (SSE), starting after `fromId`.
 */
export class EventBus {
  private readonly key: string;
  private readonly stops: (() => Promise<void>)[] = [];

  constructor(
    private readonly redis: Redis,
    private readonly log: Logger,
    prefix = 'bosun',
    private readonly maxLen = 200_000,
  ) {
    this.key = makeKeys(prefix).events;
  }

  async publish(event: BuildEvent): Promise<string> {
    const id = await this.redis.xadd(this.key, 'MAXLEN', '~', String(this.maxLen), '*', 'e', JSON.stringify(event));
    return id ?? '';
  }

  /** Latest stream id (`0-0` when empty), to start a tail "from now". */
  async lastId(): Promise<string> {
    const last = await this.redis.xrevrange(this.key, '+', '-', 'COUNT', 1);
    return last[0]?.[0] ?? '0-0';
  }

  /** Events after `fromId` (exclusive), oldest first, at most `count`. */
  async range(fromId = '-', count = 1000): Promise<StoredEvent[]> {
    const start = fromId === '-' ? '-' : `(${fromId}`;
    const entries = await this.redis.xrange(this.key, start, '+', 'COUNT', count);
    return entries.map(([id, fields]) => toStored(id, fields)).filter((e): e is StoredEvent => e !== null);
  }

  subscribe(handler: EventHandler, opts: { fromStart?: boolean; blockMs?: number } = {}): void {
    const conn = quiet(this.redis.duplicate());
    const group = handler.name;
    const consumer = `${process.pid}`;
    let stopped = false;
    const loop = (async () => {
      try {
        await conn.xgroup('CREATE', this.key, group, opts.fromStart ? '0' : '$', 'MKSTREAM');
      } catch (err) {
        if (!String(err).includes('BUSYGROUP')) throw err;
      }
      let cursor = '0'; // first drain our own pending entries, then new ones
      while (!stopped) {
        let reply: [string, [string, string[]][]][] | null;
        try {
          reply = (await conn.xreadgroup('GROUP', group, consumer, 'COUNT', 100, 'BLOCK', opts.blockMs ?? 2000, 'STREAMS', this.key, cursor)) as
            [string, [string, string[]][]][] | null;
        } catch (err) {
          if (stopped) return;
          this.log.warn({ err, subscriber: group }, 'Event read failed; retrying');
          await new Promise((r) => setTimeout(r, 500));
          continue;
        }
        const entries = reply?.[0]?.[1] ?? [];
        if (cursor === '0' && entries.length === 0) cursor = '>';
        for (const [id, fields] of entries) {
          const event = toStored(id, fields);
          if (event) await this.deliver(handler, event);
          await conn.xack(this.key, group, id);
          if (cursor !== '>') cursor = id;
        }
      }
    })().catch((err: unknown) => this.log.error({ err, subscriber: group }, 'Event subscriber stopped'));
    this.stops.push(async () => {
      stopped = true;
      conn.disconnect();
      await loop;
    });
  }

  /** Live read for UIs: yields events after `fromId` until `signal` aborts. */
  async *tail(fromId: string, signal: AbortSignal, blockMs = 1000): AsyncGenerator<StoredEvent> {
    const conn = quiet(this.redis.duplicate());
    const onAbort = () => conn.disconnect();
    signal.addEventListener('abort', onAbort, { once: true });
    let cursor = fromId;
    try {
      while (!signal.aborted) {
        let reply: [string, [string, string[]][]][] | null;
        try {
          reply = (await conn.xread('COUNT', 500, 'BLOCK', blockMs, 'STREAMS', this.key, cursor)) as [string, [string, string[]][]][] | null;
        } catch (err) {
          if (signal.aborted) return;
          throw err;
        }
        for (const [id, fields] of reply?.[0]?.[1] ?? []) {
          cursor = id;
          const event = toStored(id, fields);
          if (event) yield event;
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      conn.disconnect();
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.stops.splice(0).map((stop) => stop()));
  }

  private async deliver(handler: EventHandler, event: StoredEvent): Promise<void> {
    try {
      await handler.handle(event);
    } catch (err) {
      this.log.warn({ err, subscriber: handler.name, eventId: event.id, type: event.type }, 'Event handler failed');
    }
  }
}

function toStored(id: string, fields: string[]): StoredEvent | null {
  const idx = fields.indexOf('e');
  const raw = idx >= 0 ? fields[idx + 1] : undefined;
  if (!raw) return null;
  try {
    const event = JSON.parse(raw) as BuildEvent;
    const ms = Number(id.split('-')[0]);
    return { ...event, id, at: new Date(ms).toISOString() };
  } catch {
    return null;
  }
}

import type { Redis } from 'ioredis';
import type { Logger } from '../../logger.js';
import { ZulipApiError, type ZulipApi, type ZulipEvent, type ZulipMessage, type ZulipQueue } from './zulip-api.js';

export interface EventQueueDeps {
  api: ZulipApi;
  redis: Redis;
  prefix: string;
  log: Logger;
  /** Handles one event; must not throw for a bad command (the inbound layer answers those). */
  onEvent(event: Exclude<ZulipEvent, { type: 'heartbeat' }>): Promise<void>;
  /** Handles a message found by the catch-up after a lost queue (same path as a message event). */
  onMissedMessage(message: ZulipMessage): Promise<void>;
  /** The highest message id already handled, where the catch-up starts; null = never ran. */
  lastMessageId(): Promise<number | null>;
  /** After the message catch-up: read back what else may have been missed (reactions on open cards). */
  onCatchUp?(): Promise<void>;
  /** Backoff after an error: first and longest wait. */
  backoffMs?: { min: number; max: number };
}

const catchUpPage = 100;

/**
 * The real-time events loop: register a queue (messages and reactions, raw markdown), long-poll
 * `GET /events` with `last_event_id`, hand each event on in order, and persist the queue id and
 * the last handled event id in Redis after every event. So:
 * - a reconnect or a Bosun restart resumes the same queue after the last handled event: nothing
 *   is skipped, and what was handled is not fetched again (an event handled but not yet
 *   recorded when the process died is fetched again and stopped by the inbound dedupe);
 * - `BAD_EVENT_QUEUE_ID` (the queue expired while Bosun was away) registers a new queue, then
 *   catches up with `GET /messages` after the last handled message id, so no command is lost,
 *   and with `onCatchUp` (the reactions on cards still open);
 * - any other error backs off (doubling, capped) and tries again.
 */
export class ZulipEventQueue {
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;
  private readonly key: string;
  /** Polls answered, events handled, queues registered: for tests and logs. */
  readonly stats = { polls: 0, events: 0, registrations: 0, errors: 0 };

  constructor(private readonly deps: EventQueueDeps) {
    this.key = `${deps.prefix}:zulip:queue`;
  }

  start(): void {
    this.loop ??= this.run().catch((err: unknown) => this.deps.log.error({ err }, 'Zulip event loop stopped'));
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    const backoff = this.deps.backoffMs ?? { min: 500, max: 30_000 };
    let wait = 0;
    let queue = await this.load();
    while (!signal.aborted) {
      try {
        if (!queue) queue = await this.registerAndCatchUp();
        const events = await this.deps.api.events(queue.queueId, queue.lastEventId, { timeoutMs: (queue.pollTimeoutSec + 10) * 1000, signal });
        this.stats.polls++;
        wait = 0;
        for (const event of events) {
          if (signal.aborted) return; // the rest stays in the queue for next time
          if (event.type !== 'heartbeat') {
            await this.deps.onEvent(event);
            this.stats.events++;
          }
          queue.lastEventId = Math.max(queue.lastEventId, event.id);
          await this.deps.redis.hset(this.key, 'lastEventId', String(queue.lastEventId));
        }
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof ZulipApiError && err.zulipCode === 'BAD_EVENT_QUEUE_ID') {
          this.deps.log.info({ queueId: queue?.queueId }, 'Zulip event queue is gone; registering a new one');
          queue = null;
          await this.deps.redis.del(this.key);
          continue;
        }
        this.stats.errors++;
        wait = Math.min(backoff.max, Math.max(backoff.min, wait * 2));
        this.deps.log.warn({ err, waitMs: wait }, 'Zulip event poll failed; backing off');
        await sleep(wait, signal);
      }
    }
  }

  private async load(): Promise<ZulipQueue | null> {
    const h = await this.deps.redis.hgetall(this.key);
    if (!h.queueId) return null;
    return { queueId: h.queueId, lastEventId: Number(h.lastEventId ?? -1), pollTimeoutSec: Number(h.pollTimeoutSec ?? 90) };
  }

  private async registerAndCatchUp(): Promise<ZulipQueue> {
    const queue = await this.deps.api.register();
    this.stats.registrations++;
    await this.deps.redis.hset(this.key, { queueId: queue.queueId, lastEventId: String(queue.lastEventId), pollTimeoutSec: String(queue.pollTimeoutSec) });
    this.deps.log.info({ queueId: queue.queueId }, 'Zulip event queue registered');
    // Messages sent between the old queue's end and this registration: read them back.
    let anchor = await this.deps.lastMessageId();
    while (anchor !== null) {
      const missed = await this.deps.api.messagesAfter(anchor, catchUpPage);
      for (const m of missed) {
        await this.deps.onMissedMessage(m);
        anchor = Math.max(anchor, m.id);
      }
      if (missed.length < catchUpPage) break;
    }
    await this.deps.onCatchUp?.();
    return queue;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}

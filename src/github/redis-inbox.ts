import type { Redis } from 'ioredis';
import { quiet } from '../storage/redis-connection.js';
import type { Logger } from '../logger.js';
import { CodedError } from '../errors.js';
import type { Delivery, DeliveryInbox } from './webhook-route.js';

const claimAndPush = `
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('RPUSH', KEYS[2], ARGV[2])
  return 1
end
return 0`;

/** `claimAndPush` as a command defined on the connection. */
interface ClaimScript {
  bosunClaimDelivery(deliveryKey: string, inboxKey: string, ttlSec: string, delivery: string): Promise<number>;
}

const deliveryTtlSec = 7 * 24 * 3600;
/** Infrastructure failures are retried this often; user errors (bad ref, unknown repo) never. */
const maxAttempts = 4;

/**
 * A durable inbox for webhook deliveries in Redis. `accept` claims the delivery id with
 * SET NX (7-day TTL, R2) and appends it to a list in one script, so a delivery is queued
 * exactly once however often GitHub sends it. A single consumer loop moves each item to a
 * processing list while it runs (BLMOVE), so work cut short by a crash is picked up again at
 * the next start. Handlers must tolerate that (they dedupe again by delivery id). A handler
 * failing on infrastructure is retried a few times with backoff; a user error is only logged.
 */
export class RedisInbox implements DeliveryInbox {
  private stopped = false;
  private loop: Promise<void> | null = null;
  private conn: Redis | null = null;
  /** `seen` reads waiting for this turn's pipeline. */
  private seenBatch: { key: string; resolve: (seen: boolean) => void; reject: (err: unknown) => void }[] = [];

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly log: Logger,
  ) {
    // Defined on the connection: each claim sends the script's SHA (EVALSHA), not its text.
    redis.defineCommand('bosunClaimDelivery', { numberOfKeys: 2, lua: claimAndPush });
  }

  private key(name: string): string {
    return `${this.prefix}:github:${name}`;
  }

  async accept(d: Delivery): Promise<boolean> {
    const claim = (this.redis as unknown as ClaimScript).bosunClaimDelivery;
    const added = await claim.call(this.redis, this.key(`delivery:${d.id}`), this.key('inbox'), String(deliveryTtlSec), JSON.stringify(d));
    return added === 1;
  }

  /**
   * Whether the delivery id is already claimed: the key `accept` sets (same 7-day TTL, in
   * Redis, so it survives a restart of Bosun). A read only; `accept` still decides atomically.
   * The reads asked for in one turn of the event loop go to Redis as one pipeline (one write,
   * one reply to read): under a flood of redeliveries that is one syscall for many requests.
   */
  seen(id: string): Promise<boolean> {
    return new Promise((resolve, reject) => {
      if (this.seenBatch.length === 0) setImmediate(() => this.flushSeen());
      this.seenBatch.push({ key: this.key(`delivery:${id}`), resolve, reject });
    });
  }

  private flushSeen(): void {
    const batch = this.seenBatch;
    this.seenBatch = [];
    const pipeline = this.redis.pipeline();
    for (const item of batch) pipeline.exists(item.key);
    pipeline.exec().then(
      (replies) =>
        batch.forEach((item, i) => {
          const [err, n] = replies?.[i] ?? [new Error('no reply from Redis'), null];
          if (err) item.reject(err);
          else item.resolve(n === 1);
        }),
      (err: unknown) => batch.forEach((item) => item.reject(err)),
    );
  }

  start(handle: (d: Delivery) => Promise<void>): void {
    const conn = quiet(this.redis.duplicate());
    this.conn = conn;
    this.loop = (async () => {
      // Anything left in processing was interrupted by a crash: run it again.
      while (await conn.lmove(this.key('processing'), this.key('inbox'), 'RIGHT', 'LEFT')) {
        /* requeued */
      }
      while (!this.stopped) {
        let item: string | null;
        try {
          item = await conn.blmove(this.key('inbox'), this.key('processing'), 'LEFT', 'RIGHT', 1);
        } catch (err) {
          if (this.stopped) return;
          this.log.warn({ err }, 'GitHub inbox read failed');
          await new Promise((r) => setTimeout(r, 500));
          continue;
        }
        if (!item) continue;
        const delivery = JSON.parse(item) as Delivery & { attempt?: number };
        try {
          await handle(delivery);
        } catch (err) {
          const attempt = (delivery.attempt ?? 0) + 1;
          const retry = !(err instanceof CodedError && !err.retryable) && attempt < maxAttempts;
          this.log.warn({ err, deliveryId: delivery.id, attempt, retry }, 'GitHub delivery handler failed');
          if (retry) {
            await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
            await conn.rpush(this.key('inbox'), JSON.stringify({ ...delivery, attempt }));
          }
        }
        await conn.lrem(this.key('processing'), 1, item);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop?.catch(() => undefined);
    this.conn?.disconnect();
  }
}

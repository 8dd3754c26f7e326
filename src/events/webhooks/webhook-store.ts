import type { Redis } from 'ioredis';
import { z } from 'zod';
import { keys as makeKeys, type Keys } from '../../storage/keys.js';

/** One message waiting in an endpoint's outbox: the exact bytes to sign and send. */
export const OutboxEntry = z.object({
  eventId: z.string(),
  type: z.string(),
  body: z.string(),
  /** Queued again by hand (`POST …/redeliver`), not by the event stream. */
  redelivery: z.boolean().optional(),
});
export type OutboxEntry = z.infer<typeof OutboxEntry>;

/** One delivery attempt, as kept in the capped delivery log (newest first). */
export interface DeliveryAttempt {
  /** The delivery id: the event id, which is also the `webhook-id` header. */
  deliveryId: string;
  type: string;
  attempt: number;
  /** HTTP status of the answer; absent when there was none (refused, timeout). */
  status?: number;
  error?: string;
  outcome: 'delivered' | 'failed';
  durationMs: number;
  at: string;
  redelivery?: boolean;
}

/** An endpoint's delivery state as `GET /api/webhooks` shows it. */
export interface EndpointState {
  disabled: boolean;
  disabledAt?: string;
  reason?: string;
  /** True once the disable notice (log line and `webhook.disabled` event) went out. */
  noticed: boolean;
  /** Failed attempts in a row, and since when the endpoint has been failing. */
  failures: number;
  failingSince?: string;
  /** Attempts made at the message now at the head of the outbox. */
  headAttempts: number;
  nextAttemptAt?: number;
  lastStatus?: number;
  lastSuccessAt?: string;
}

const newer = `
local function newer(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am = tonumber(am); as = tonumber(as); bm = tonumber(bm); bs = tonumber(bs)
  if am ~= bm then return am > bm end
  return as > bs
end
`;

/**
 * KEYS: cursor, outbox, state per endpoint. ARGV: event id, entry, maxPending, now (ISO),
 * then one match flag per endpoint. Each endpoint whose cursor is behind the event moves its
 * cursor to it, and — when it matches and the endpoint is enabled — gets the entry appended,
 * in the same atomic step: an event is queued once per endpoint however often it is read.
 */
const enqueueScript = `${newer}
local id = ARGV[1]
local pushed = 0
for i = 0, (#KEYS / 3) - 1 do
  local cursor, outbox, state = KEYS[i * 3 + 1], KEYS[i * 3 + 2], KEYS[i * 3 + 3]
  local cur = redis.call('GET', cursor) or '0-0'
  if newer(id, cur) then
    if ARGV[5 + i] == '1' and redis.call('HGET', state, 'disabled') ~= '1' then
      if redis.call('LLEN', outbox) >= tonumber(ARGV[3]) then
        redis.call('HSET', state, 'disabled', '1', 'disabledAt', ARGV[4], 'reason', 'more than ' .. ARGV[3] .. ' undelivered events')
      else
        redis.call('RPUSH', outbox, ARGV[2])
        pushed = pushed + 1
      end
    end
    redis.call('SET', cursor, id)
  end
end
return pushed
`;

/** KEYS: outbox, state. ARGV: the raw head entry, now (ISO). Pops it only if it is still the head. */
const completeScript = `
if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[1] then return 0 end
redis.call('LPOP', KEYS[1])
redis.call('HDEL', KEYS[2], 'failures', 'failingSince', 'headAttempts', 'nextAttemptAt')
redis.call('HSET', KEYS[2], 'lastSuccessAt', ARGV[2])
return 1
`;

/** KEYS: lock. ARGV: owner, ttl ms. Takes or renews the lock. */
const lockScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
`;

const unlockScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/**
 * Redis state of outgoing webhooks, per endpoint: the stream cursor up to which events were
 * considered, the outbox (a list, delivered strictly head first), the delivery state, the
 * capped delivery log and a dispatcher lock. All of it survives a Bosun restart.
 */
export class WebhookStore {
  private readonly k: Keys;
  constructor(
    private readonly redis: Redis,
    prefix = 'bosun',
  ) {
    this.k = makeKeys(prefix);
  }

  /** Starts an endpoint's cursor at `id` unless it has one (a new endpoint sees events from now). */
  async initCursor(endpoint: string, id: string): Promise<void> {
    await this.redis.set(this.k.webhook(endpoint, 'cursor'), id, 'NX');
  }

  async cursor(endpoint: string): Promise<string> {
    return (await this.redis.get(this.k.webhook(endpoint, 'cursor'))) ?? '0-0';
  }

  /** Queues `entry` for every endpoint flagged as matching; advances every cursor. Returns how many queued it. */
  async enqueue(endpoints: { id: string; matches: boolean }[], entry: OutboxEntry, maxPending: number): Promise<number> {
    const keys = endpoints.flatMap((e) => [this.k.webhook(e.id, 'cursor'), this.k.webhook(e.id, 'outbox'), this.k.webhook(e.id, 'state')]);
    const flags = endpoints.map((e) => (e.matches ? '1' : '0'));
    return (await this.redis.eval(
      enqueueScript,
      keys.length,
      ...keys,
      entry.eventId,
      JSON.stringify(entry),
      String(maxPending),
      new Date().toISOString(),
      ...flags,
    )) as number;
  }

  /** Appends an entry by hand (manual redelivery), behind what is already waiting. */
  async requeue(endpoint: string, entry: OutboxEntry): Promise<void> {
    await this.redis.rpush(this.k.webhook(endpoint, 'outbox'), JSON.stringify(entry));
  }

  async head(endpoint: string): Promise<{ raw: string; entry: OutboxEntry } | null> {
    const raw = await this.redis.lindex(this.k.webhook(endpoint, 'outbox'), 0);
    if (!raw) return null;
    const parsed = OutboxEntry.safeParse(JSON.parse(raw));
    if (!parsed.success) {
      await this.redis.lrem(this.k.webhook(endpoint, 'outbox'), 1, raw); // not ours to send
      return this.head(endpoint);
    }
    return { raw, entry: parsed.data };
  }

  async pending(endpoint: string): Promise<number> {
    return this.redis.llen(this.k.webhook(endpoint, 'outbox'));
  }

  /** The head was delivered: drop it and clear the failure streak. */
  async complete(endpoint: string, raw: string): Promise<void> {
    await this.redis.eval(completeScript, 2, this.k.webhook(endpoint, 'outbox'), this.k.webhook(endpoint, 'state'), raw, new Date().toISOString());
  }

  /** Counts a failed attempt; returns the streak so far. */
  async recordFailure(endpoint: string, status: number | undefined, nextAttemptAt: number): Promise<{ failures: number; failingSinceMs: number }> {
    const key = this.k.webhook(endpoint, 'state');
    const now = new Date().toISOString();
    const [[, failures], , [, since]] = (await this.redis
      .multi()
      .hincrby(key, 'failures', 1)
      .hsetnx(key, 'failingSince', now)
      .hget(key, 'failingSince')
      .hset(key, 'nextAttemptAt', String(nextAttemptAt), ...(status ? ['lastStatus', String(status)] : []))
      .exec()) as [unknown, unknown][] as [[unknown, number], unknown, [unknown, string], unknown];
    return { failures, failingSinceMs: Date.parse(since) };
  }

  async countAttempt(endpoint: string): Promise<number> {
    return this.redis.hincrby(this.k.webhook(endpoint, 'state'), 'headAttempts', 1);
  }

  async setLastStatus(endpoint: string, status: number): Promise<void> {
    await this.redis.hset(this.k.webhook(endpoint, 'state'), 'lastStatus', String(status));
  }

  async disable(endpoint: string, reason: string): Promise<void> {
    await this.redis.hset(this.k.webhook(endpoint, 'state'), 'disabled', '1', 'disabledAt', new Date().toISOString(), 'reason', reason);
  }

  async markNoticed(endpoint: string): Promise<void> {
    await this.redis.hset(this.k.webhook(endpoint, 'state'), 'noticed', '1');
  }

  /** Re-enables an endpoint: the failure streak starts over; what waits in its outbox is sent. */
  async enable(endpoint: string): Promise<void> {
    await this.redis.hdel(
      this.k.webhook(endpoint, 'state'),
      'disabled',
      'disabledAt',
      'reason',
      'noticed',
      'failures',
      'failingSince',
      'nextAttemptAt',
      'headAttempts',
    );
  }

  async state(endpoint: string): Promise<EndpointState> {
    const h = await this.redis.hgetall(this.k.webhook(endpoint, 'state'));
    return {
      disabled: h.disabled === '1',
      ...(h.disabledAt ? { disabledAt: h.disabledAt } : {}),
      ...(h.reason ? { reason: h.reason } : {}),
      noticed: h.noticed === '1',
      failures: Number(h.failures ?? 0),
      ...(h.failingSince ? { failingSince: h.failingSince } : {}),
      headAttempts: Number(h.headAttempts ?? 0),
      ...(h.nextAttemptAt ? { nextAttemptAt: Number(h.nextAttemptAt) } : {}),
      ...(h.lastStatus ? { lastStatus: Number(h.lastStatus) } : {}),
      ...(h.lastSuccessAt ? { lastSuccessAt: h.lastSuccessAt } : {}),
    };
  }

  async log(endpoint: string, attempt: DeliveryAttempt, cap: number): Promise<void> {
    const key = this.k.webhook(endpoint, 'log');
    await this.redis
      .multi()
      .lpush(key, JSON.stringify(attempt))
      .ltrim(key, 0, cap - 1)
      .exec();
  }

  async deliveries(endpoint: string, count = 100): Promise<DeliveryAttempt[]> {
    const rows = await this.redis.lrange(this.k.webhook(endpoint, 'log'), 0, count - 1);
    return rows.map((r) => JSON.parse(r) as DeliveryAttempt);
  }

  /** Takes or renews the endpoint's dispatcher lock (one sender per endpoint across processes). */
  async lock(endpoint: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.eval(lockScript, 1, this.k.webhook(endpoint, 'lock'), owner, String(ttlMs))) === 1;
  }

  async unlock(endpoint: string, owner: string): Promise<void> {
    await this.redis.eval(unlockScript, 1, this.k.webhook(endpoint, 'lock'), owner);
  }
}

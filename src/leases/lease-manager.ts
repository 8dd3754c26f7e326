import type { Redis } from 'ioredis';
import type { Actor } from '../domain/build.js';
import type { EventBus } from '../events/event-bus.js';
import type { AuditLog } from '../storage/audit-log.js';
import type { Logger } from '../logger.js';
import { UserError } from '../errors.js';
import { humanTime } from '../domain/human-time.js';
import { healthCheckFor, type Pools, type PoolConfig } from './pool-config.js';
import type { LeaseEvent } from '../domain/lease-event.js';
import { buildRef, clampTtl, csv, describe, grantedEvent, splitCsv, toLease } from './lease-record.js';
import {
  acquireScript,
  renewScript,
  releaseScript,
  reapScript,
  claimDirtyScript,
  finishCleanScript,
  syncPoolScript,
  markRemindedScript,
  takeOverScript,
} from './lease-scripts.js';

export type LeaseState = 'waiting' | 'active' | 'released' | 'expired' | 'cancelled';
export type ItemState = 'free' | 'leased' | 'dirty' | 'cleaning' | 'broken';

/** A lease as stored: a request that is waiting, or a grant of one item. */
export interface Lease {
  id: string;
  pool: string;
  attributes: string[];
  holder: Actor;
  state: LeaseState;
  ttlSec: number;
  requestedAt: string;
  item?: string;
  /** Fencing token of the grant; every grant has a larger one than all before it. */
  token?: number;
  grantedAt?: string;
  expiresAt?: string;
  buildId?: string;
  stage?: string;
}

export type AcquireResult = { status: 'granted'; lease: Lease } | { status: 'waiting'; lease: Lease; position: number; ahead?: string };

export interface LeaseOpts {
  buildId?: string;
  stage?: string;
  /** Skip the owner check (a pool admin, or Bosun itself on a pipeline's lease). */
  admin?: boolean;
  source?: string;
  /**
   * `acquire` only: the TTL is not capped by the pool's `maxTtlSec`. For a checkpoint's lease,
   * which must outlive its checkpoint's deadline (itself capped at `maxTtlSec`) by a grace, so
   * the checkpoint's timeout, not the reaper, gives the item back.
   */
  uncapped?: boolean;
}

/** One item of a pool with its holder, for `leases`. */
export interface ItemView {
  pool: string;
  id: string;
  attributes: string[];
  state: ItemState;
  lease?: Lease;
}

/**
 * Leases on pooled resources (R25, Boskos-style), all state in Redis via the scripts in
 * `lease-scripts.ts`.
 *
 * Contract:
 * - `acquire` is atomic: under any concurrency an item is granted to one lease at a time, and
 *   requests that cannot be served wait in FIFO order per pool. Not idempotent: each call is a
 *   new request with a new lease id.
 * - `renew` / `release` require the holder (or an admin) and the current grant: the lease must
 *   still own its item and, when a token is given, it must be the item's current fencing token.
 *   A late call from a previous holder is refused with `lease_denied`. `release` of a waiting
 *   request leaves the wait list.
 * - Released and expired items go `dirty`; only `cleanOne` (the janitor) makes them free, and
 *   in the same step hands them to the next matching waiter.
 * - Every change is published on the event bus and appended to the audit trail (R10). A failed
 *   publish is logged; the Redis state is the truth.
 */
export class LeaseManager {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly config: { pools: Pools; groups: Record<string, string[]> },
    private readonly bus: Pick<EventBus, 'publish'>,
    private readonly audit: Pick<AuditLog, 'record'>,
    private readonly log: Logger,
  ) {}

  get pools(): Pools {
    return this.config.pools;
  }

  pool(name: string): PoolConfig {
    const p = this.config.pools[name];
    if (!p) throw new UserError('not_found', `there is no pool "${name}"`);
    return p;
  }

  isAdmin(pool: string, actor: Actor): boolean {
    const group = this.config.pools[pool]?.admins;
    return !!group && (this.config.groups[group] ?? []).includes(actor.id);
  }

  /** Loads every configured pool's items into Redis; new items with a health check wait for the janitor first, others are free. */
  async sync(): Promise<void> {
    for (const [name, pool] of Object.entries(this.config.pools)) {
      const args = pool.items.flatMap((i) => [i.id, csv(i.attributes), healthCheckFor(pool, i) ? '1' : '0']);
      await this.eval(syncPoolScript, name, ...args);
    }
  }

  async acquire(poolName: string, attributes: string[], holder: Actor, ttlSec: number | undefined, opts: LeaseOpts = {}): Promise<AcquireResult> {
    const pool = this.pool(poolName);
    const ttl = opts.uncapped && ttlSec !== undefined ? Math.max(1, ttlSec) : clampTtl(pool, ttlSec);
    const reply = (await this.eval(
      acquireScript,
      poolName,
      csv(attributes),
      holder.id,
      holder.name,
      String(ttl),
      String(Date.now()),
      opts.buildId ?? '',
      opts.stage ?? '',
    )) as (string | number)[];
    if (reply[0] === 'err') {
      await this.record('lease.acquire', holder, 'denied', `no item in ${poolName} has ${attributes.join(' ')}`, opts);
      throw new UserError('lease_denied', `no item in pool "${poolName}" has ${attributes.length ? attributes.join(', ') : 'that'}`);
    }
    const lease = await this.require(String(reply[0]));
    if (reply[1] === 'granted') {
      await this.record('lease.grant', holder, 'ok', `${lease.id} ${poolName}/${lease.item} token ${lease.token}`, opts);
      await this.emit(grantedEvent(lease));
      return { status: 'granted', lease };
    }
    const position = Number(reply[2]);
    const ahead = await this.aheadOf(lease);
    await this.record('lease.wait', holder, 'ok', `${lease.id} ${poolName} position ${position}`, opts);
    await this.emit({
      type: 'lease.waiting',
      leaseId: lease.id,
      pool: poolName,
      holder,
      position,
      ...(ahead ? { ahead } : {}),
      ...buildRef(lease),
      text: `${holder.name} is #${position} in line for ${describe(poolName, attributes)}${ahead ? ` behind ${ahead}` : ''}.`,
    });
    return { status: 'waiting', lease, position, ...(ahead ? { ahead } : {}) };
  }

  /**
   * The holder's live lease in `pool` (other than `exclude`), taken over by this process: a
   * waiting request keeps its place, an active grant gets a new fencing token (the previous
   * process is fenced off). Null when the holder has none. For pipeline stages resumed after a crash.
   */
  async takeOver(poolName: string, holder: Actor, exclude: string[], opts: LeaseOpts = {}): Promise<AcquireResult | null> {
    const reply = (await this.eval(takeOverScript, holder.id, poolName, csv(exclude))) as (string | number)[] | null;
    if (!reply) return null;
    const lease = await this.require(String(reply[0]));
    if (reply[1] === 'waiting') {
      const position = (await this.waiting(poolName)).findIndex((l) => l.id === lease.id) + 1;
      return { status: 'waiting', lease, position };
    }
    await this.record('lease.takeover', holder, 'ok', `${lease.id} ${poolName}/${lease.item} token ${lease.token}`, opts);
    return { status: 'granted', lease };
  }

  async renew(id: string, actor: Actor, token: number | undefined, ttlSec: number | undefined, opts: LeaseOpts = {}): Promise<Lease> {
    const before = await this.require(id);
    const ttl = clampTtl(this.pool(before.pool), ttlSec ?? before.ttlSec);
    const admin = opts.admin === true || this.isAdmin(before.pool, actor);
    const reply = (await this.eval(
      renewScript,
      id,
      actor.id,
      admin ? '1' : '0',
      token === undefined ? '' : String(token),
      String(ttl),
      String(Date.now()),
    )) as string[];
    if (reply[0] === 'err') await this.deny('lease.renew', actor, before, reply[1] ?? 'error', opts);
    const lease = await this.require(id);
    await this.record('lease.renew', actor, 'ok', `${id} until ${lease.expiresAt}`, opts);
    await this.emit({
      type: 'lease.renewed',
      leaseId: id,
      pool: lease.pool,
      item: lease.item ?? '',
      holder: lease.holder,
      expiresAt: lease.expiresAt ?? '',
      text: `${lease.id} (${lease.item}) now runs until ${humanTime(lease.expiresAt)}.`,
      ...buildRef(lease),
    });
    return lease;
  }

  async release(id: string, actor: Actor, token: number | undefined, reason: string, opts: LeaseOpts = {}): Promise<Lease> {
    const before = await this.require(id);
    const admin = opts.admin === true || this.isAdmin(before.pool, actor);
    const reply = (await this.eval(
      releaseScript,
      id,
      actor.id,
      admin ? '1' : '0',
      token === undefined ? '' : String(token),
      String(Date.now()),
      reason,
    )) as string[];
    if (reply[0] === 'err') await this.deny('lease.release', actor, before, reply[1] ?? 'error', opts);
    const lease = await this.require(id);
    await this.record('lease.release', actor, 'ok', `${id} ${reply[0]} (${reason})`, opts);
    if (reply[0] === 'released') {
      await this.emit({
        type: 'lease.released',
        leaseId: id,
        pool: lease.pool,
        item: lease.item ?? '',
        reason,
        holder: lease.holder,
        text: `${lease.holder.name} released ${lease.item} (${lease.id}); it goes to the janitor.`,
        ...buildRef(lease),
      });
    }
    return lease;
  }

  /** The reaper: expired leases lose their items (which go dirty). Returns the expired leases. */
  async reap(now = Date.now()): Promise<Lease[]> {
    const ids = (await this.eval(reapScript, String(now), '100')) as string[];
    const out: Lease[] = [];
    for (const id of ids) {
      const lease = await this.require(id);
      out.push(lease);
      await this.record('lease.expire', lease.holder, 'ok', `${id} ${lease.pool}/${lease.item}`, { ...buildRef(lease), source: 'reaper' });
      await this.emit({
        type: 'lease.expired',
        leaseId: id,
        pool: lease.pool,
        item: lease.item ?? '',
        holder: lease.holder,
        text: `${lease.id} on ${lease.item} expired; it was not renewed.`,
        ...buildRef(lease),
      });
    }
    return out;
  }

  /** Takes one dirty item for the janitor, or null. Items whose check began over `staleMs` ago are retried. */
  async claimDirty(staleMs: number): Promise<{ pool: string; item: string } | null> {
    const m = (await this.eval(claimDirtyScript, String(Date.now()), String(staleMs))) as string | null;
    if (!m) return null;
    const slash = m.indexOf('/');
    return { pool: m.slice(0, slash), item: m.slice(slash + 1) };
  }

  /** Records the janitor's verdict; a healthy item goes to the next waiter in line. Returns that grant, if any. */
  async finishClean(pool: string, item: string, healthy: boolean): Promise<Lease | null> {
    const reply = (await this.eval(finishCleanScript, pool, item, healthy ? '1' : '0', String(Date.now()))) as string[];
    const system = { id: 'bosun', name: 'Bosun janitor' };
    if (reply[0] === 'skipped') return null;
    await this.record('lease.clean', system, healthy ? 'ok' : 'error', `${pool}/${item} ${healthy ? 'healthy' : 'broken'}`, { source: 'janitor' });
    if (reply[0] === 'broken') {
      this.log.warn({ pool, item }, 'Leased item failed its health check; marked broken');
      await this.emit({ type: 'lease.item', pool, item, state: 'broken', text: `${pool}/${item} failed its health check and is out of the pool.` });
      return null;
    }
    if (reply[0] !== 'granted') {
      await this.emit({ type: 'lease.item', pool, item, state: 'free', text: `${pool}/${item} is free.` });
      return null;
    }
    const lease = await this.require(reply[1] ?? '');
    await this.record('lease.grant', lease.holder, 'ok', `${lease.id} ${pool}/${item} token ${lease.token} (from the wait list)`, {
      ...buildRef(lease),
      source: 'janitor',
    });
    await this.emit(grantedEvent(lease));
    return lease;
  }

  /** Sends the Extend / Release reminder for active leases within their pool's lead time (once per term). */
  async remind(now = Date.now()): Promise<Lease[]> {
    const maxLead = Math.max(0, ...Object.values(this.config.pools).map((p) => p.reminderLeadSec)) * 1000;
    const ids = await this.redis.zrangebyscore(this.k('active'), '-inf', String(now + maxLead));
    const out: Lease[] = [];
    for (const id of ids) {
      const lease = await this.get(id);
      if (!lease?.expiresAt || lease.state !== 'active') continue;
      const lead = (this.config.pools[lease.pool]?.reminderLeadSec ?? 0) * 1000;
      if (Date.parse(lease.expiresAt) - lead > now) continue;
      if (Number(await this.eval(markRemindedScript, id)) !== 1) continue;
      out.push(lease);
      await this.emit({
        type: 'lease.reminder',
        leaseId: id,
        pool: lease.pool,
        item: lease.item ?? '',
        holder: lease.holder,
        expiresAt: lease.expiresAt,
        actions: { extend: `renew ${id}`, release: `release ${id}` },
        ...buildRef(lease),
        text: `${lease.holder.name}, your lease ${id} on ${lease.item} ends at ${humanTime(lease.expiresAt)}. Extend or release it?`,
      });
    }
    return out;
  }

  async get(id: string): Promise<Lease | null> {
    if (!/^L-\d{1,15}$/.test(id)) return null;
    const h = await this.redis.hgetall(this.k(id));
    return h.id ? toLease(h) : null;
  }

  async require(id: string): Promise<Lease> {
    const lease = await this.get(id);
    if (!lease) throw new UserError('not_found', `there is no lease ${id}`);
    return lease;
  }

  /** Items of a pool in config order, with their current leases. */
  async items(pool: string): Promise<ItemView[]> {
    const ids = await this.redis.zrange(this.k('pool', pool), '0', '-1');
    const out: ItemView[] = [];
    for (const id of ids) {
      const h = await this.redis.hgetall(this.k('item', pool, id));
      const lease = h.leaseId ? await this.get(h.leaseId) : null;
      out.push({ pool, id, attributes: splitCsv(h.attrs), state: (h.state ?? 'dirty') as ItemState, ...(lease ? { lease } : {}) });
    }
    return out;
  }

  /** Waiting requests of a pool, first in line first. */
  async waiting(pool: string): Promise<Lease[]> {
    const ids = await this.redis.lrange(this.k('wait', pool), 0, -1);
    const out: Lease[] = [];
    for (const id of ids) {
      const l = await this.get(id);
      if (l) out.push(l);
    }
    return out;
  }

  /** Who a waiting request is behind: the request before it, else the holder whose matching item frees soonest. */
  private async aheadOf(lease: Lease): Promise<string | undefined> {
    const queue = await this.waiting(lease.pool);
    const idx = queue.findIndex((l) => l.id === lease.id);
    if (idx > 0) return queue[idx - 1]!.holder.name;
    const held = (await this.items(lease.pool))
      .filter((i) => i.lease && lease.attributes.every((a) => i.attributes.includes(a)))
      .sort((a, b) => (a.lease!.expiresAt ?? '').localeCompare(b.lease!.expiresAt ?? ''));
    return held[0]?.lease?.holder.name;
  }

  private async deny(action: string, actor: Actor, lease: Lease, code: string, opts: LeaseOpts): Promise<never> {
    await this.record(action, actor, 'denied', `${lease.id} ${code}`, opts);
    if (code === 'forbidden') throw new UserError('forbidden', `${lease.id} is held by ${lease.holder.name}; only they or a pool admin can do that`);
    if (code === 'stale_token')
      throw new UserError('lease_denied', `${lease.id} is no longer the current lease on ${lease.item ?? 'its item'} (stale fencing token)`);
    if (code.startsWith('not_active')) throw new UserError('lease_denied', `${lease.id} is ${lease.state}, not active`);
    throw new UserError('lease_denied', `${lease.id}: ${code}`);
  }

  private async record(action: string, actor: Actor, outcome: 'ok' | 'denied' | 'error', detail: string, opts: LeaseOpts): Promise<void> {
    await this.audit.record({ action, actorId: actor.id, source: opts.source ?? 'lease', outcome, detail, ...(opts.buildId ? { buildId: opts.buildId } : {}) });
  }

  private async emit(event: LeaseEvent): Promise<void> {
    await this.bus.publish(event).catch((err: unknown) => this.log.warn({ err, type: event.type }, 'Publishing a lease event failed'));
  }

  private k(...parts: string[]): string {
    return `${this.prefix}:lease:${parts.join(':')}`;
  }

  private eval(script: string, ...args: string[]): Promise<unknown> {
    return this.redis.eval(script, 0, this.prefix, ...args);
  }
}

export { describe } from './lease-record.js';

import type { Actor } from '../src/domain/build.js';
import type { CommandContext } from './command.js';
import { UserError } from '../src/errors.js';

/** A lease as commands show it. Times are ISO strings. */
export interface LeaseView {
  id: string;
  pool: string;
  attributes: string[];
  holder: Actor;
  state: 'waiting' | 'active' | 'released' | 'expired' | 'cancelled';
  requestedAt: string;
  item?: string;
  grantedAt?: string;
  expiresAt?: string;
  buildId?: string;
  stage?: string;
}

export type LeaseRequestOutcome =
  | { status: 'granted'; lease: LeaseView }
  /** `position`: place in the pool's wait list (1 = next); `ahead`: whom they wait behind. */
  | { status: 'waiting'; lease: LeaseView; position: number; ahead?: string };

export interface PoolBoard {
  pool: string;
  items: { id: string; attributes: string[]; state: string; lease?: LeaseView }[];
  waiting: LeaseView[];
}

/**
 * The narrow view of resource leases that commands use; implemented in `src/leases`.
 * Errors are UserErrors (`lease_denied`, `forbidden`, `not_found`, `bad_request`) with a
 * message fit for the person. The owner check uses `ctx.actor.id` (never a display name).
 */
export interface LeaseService {
  /** Request an item: `words` are a pool name and/or attributes (see `lease` help); `ttlSec` is clamped by the pool. */
  request(words: string[], ttlSec: number | undefined, ctx: CommandContext): Promise<LeaseRequestOutcome>;
  /** Every pool: items with their holders, and who waits. */
  board(): Promise<PoolBoard[]>;
  /** Extend the holder's lease from now (default: its original TTL). */
  renew(leaseId: string, ttlSec: number | undefined, ctx: CommandContext): Promise<LeaseView>;
  /** Give the item back (to the janitor), or leave the wait list. */
  release(leaseId: string, ctx: CommandContext): Promise<LeaseView>;
}

/** Parses `30m`, `2h`, `90s`, `1d` (also `1h30m`) into seconds, or null. */
export function parseDuration(text: string | undefined): number | null {
  if (!text) return null;
  const m = /^(?:(\d{1,4})d)?(?:(\d{1,5})h)?(?:(\d{1,6})m)?(?:(\d{1,7})s)?$/i.exec(text.trim());
  if (!m || !text.trim()) return null;
  const [, d, h, mi, s] = m;
  const total = Number(d ?? 0) * 86400 + Number(h ?? 0) * 3600 + Number(mi ?? 0) * 60 + Number(s ?? 0);
  return total > 0 ? total : null;
}

/** A short human form of a time: `14:05 UTC` today, else the date too. */
export function shortTime(iso: string | undefined): string {
  if (!iso) return '?';
  const d = new Date(iso);
  const hhmm = `${d.toISOString().slice(11, 16)} UTC`;
  return d.toDateString() === new Date().toDateString() ? hhmm : `${d.toISOString().slice(0, 10)} ${hhmm}`;
}

/** `available` of the lease commands: only a server with resource pools offers them. */
export function hasLeases(ctx: CommandContext): boolean {
  return ctx.leases !== undefined;
}

export function requireLeases(ctx: CommandContext): LeaseService {
  if (!ctx.leases) throw new UserError('not_found', 'this Bosun has no resource pools configured');
  return ctx.leases;
}

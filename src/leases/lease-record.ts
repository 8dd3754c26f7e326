import type { PoolConfig } from './pool-config.js';
import { humanTime } from '../domain/human-time.js';
import type { LeaseEvent } from '../domain/lease-event.js';
import type { Lease, LeaseState } from './lease-manager.js';

/** Helpers turning the Redis hashes of `lease-scripts.ts` into `Lease` values and events. */
export function clampTtl(pool: PoolConfig, ttlSec: number | undefined): number {
  return Math.max(1, Math.min(ttlSec ?? pool.defaultTtlSec, pool.maxTtlSec));
}

export function csv(values: string[]): string {
  return `,${values.join(',')},`;
}

export function splitCsv(value: string | undefined): string[] {
  return (value ?? '').split(',').filter(Boolean);
}

function iso(ms: string | undefined): string | undefined {
  return ms ? new Date(Number(ms)).toISOString() : undefined;
}

export function toLease(h: Record<string, string>): Lease {
  const opt = <K extends string, V>(key: K, v: V | undefined | '') => (v === undefined || v === '' ? {} : ({ [key]: v } as Record<K, V>));
  return {
    id: h.id!,
    pool: h.pool!,
    attributes: splitCsv(h.attrs),
    holder: { id: h.holderId!, name: h.holderName! },
    state: h.state as LeaseState,
    ttlSec: Number(h.ttl),
    requestedAt: iso(h.requestedAt)!,
    ...opt('item', h.item),
    ...opt('token', h.token ? Number(h.token) : undefined),
    ...opt('grantedAt', iso(h.grantedAt)),
    ...opt('expiresAt', iso(h.expiresAt)),
    ...opt('buildId', h.buildId),
    ...opt('stage', h.stage),
  };
}

export function buildRef(lease: Lease): { buildId?: string; stage?: string } {
  return { ...(lease.buildId ? { buildId: lease.buildId } : {}), ...(lease.stage ? { stage: lease.stage } : {}) };
}

export function describe(pool: string, attributes: string[]): string {
  return attributes.length ? `${pool} (${attributes.join(', ')})` : pool;
}

export function grantedEvent(lease: Lease): LeaseEvent {
  return {
    type: 'lease.granted',
    leaseId: lease.id,
    pool: lease.pool,
    item: lease.item ?? '',
    attributes: lease.attributes,
    holder: lease.holder,
    expiresAt: lease.expiresAt ?? '',
    token: lease.token ?? 0,
    ...buildRef(lease),
    text: `${lease.holder.name}: ${lease.item} (${lease.pool}) is yours until ${humanTime(lease.expiresAt)} — lease ${lease.id}.`,
  };
}

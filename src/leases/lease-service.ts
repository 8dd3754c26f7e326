import type { LeaseService, PoolBoard } from '../../commands/lease-service.js';
import { UserError } from '../errors.js';
import type { LeaseManager } from './lease-manager.js';

/**
 * LeaseService (for commands) over the LeaseManager. People hold leases under their stable
 * actor id; their fence is the lease id itself (one id per grant, never reused), so a release
 * or renew of an earlier grant is refused. Pipelines use the manager with explicit tokens.
 */
export function makeLeaseService(manager: LeaseManager): LeaseService {
  return {
    async request(words, ttlSec, ctx) {
      const { pool, attributes } = resolvePool(manager, words);
      return manager.acquire(pool, attributes, ctx.actor, ttlSec, { source: ctx.source });
    },
    async board() {
      const out: PoolBoard[] = [];
      for (const pool of Object.keys(manager.pools)) out.push({ pool, items: await manager.items(pool), waiting: await manager.waiting(pool) });
      return out;
    },
    renew: (id, ttlSec, ctx) => manager.renew(id, ctx.actor, undefined, ttlSec, { source: ctx.source }),
    release: (id, ctx) => manager.release(id, ctx.actor, undefined, `released by ${ctx.actor.name}`, { source: ctx.source }),
  };
}

/** The `lease` grammar's pool choice: a named pool, else the first pool with an item having every attribute. */
function resolvePool(manager: LeaseManager, words: string[]): { pool: string; attributes: string[] } {
  const pools = manager.pools;
  const names = Object.keys(pools);
  let rest = words.map((w) => w.toLowerCase());
  if (rest[0] === 'device' && !pools.device) rest = rest.slice(1);
  if (rest[0] && pools[rest[0]]) return { pool: rest[0], attributes: rest.slice(1) };
  const found = names.find((n) => pools[n]!.items.some((i) => rest.every((a) => i.attributes.map((x) => x.toLowerCase()).includes(a))));
  if (!found) {
    const what = rest.length ? `with ${rest.join(', ')}` : '';
    throw new UserError('lease_denied', `no pool has an item ${what}; pools: ${names.join(', ') || 'none'}`);
  }
  return { pool: found, attributes: rest };
}

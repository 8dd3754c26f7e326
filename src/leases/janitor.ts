import type { Logger } from '../logger.js';
import type { LeaseManager } from './lease-manager.js';
import { healthCheckFor } from './pool-config.js';
import { runHealthCheck } from './health-check.js';

/**
 * One pass of the lease housekeeping loop: the reaper (expired leases → dirty), the janitor
 * (dirty items health-checked → free, handed to the next waiter, or broken) and reminders.
 * Safe to run in several processes at once: every step is a claim in Redis.
 */
export async function leaseHousekeeping(leases: LeaseManager, log: Logger): Promise<{ expired: number; cleaned: number; reminded: number }> {
  const expired = (await leases.reap()).length;
  let cleaned = 0;
  for (;;) {
    const claim = await leases.claimDirty(10 * 60_000);
    if (!claim) break;
    const pool = leases.pools[claim.pool];
    const item = pool?.items.find((i) => i.id === claim.item);
    const healthy = pool && item ? await runHealthCheck(healthCheckFor(pool, item), item.id, pool.healthCheckTimeoutSec) : false;
    if (!pool || !item) log.warn({ pool: claim.pool, item: claim.item }, 'Dirty item is no longer in the config; marked broken');
    await leases.finishClean(claim.pool, claim.item, healthy);
    cleaned += 1;
  }
  const reminded = (await leases.remind()).length;
  return { expired, cleaned, reminded };
}

/**
 * Runs `leaseHousekeeping` at once, then every `intervalMs` (never overlapping); returns the
 * first pass (so a caller can wait for new items' first health checks before taking requests)
 * and a stop function that waits for a pass in flight.
 */
export function startHousekeeping(leases: LeaseManager, log: Logger, intervalMs: number): { first: Promise<unknown>; stop: () => Promise<void> } {
  let current: Promise<unknown> = Promise.resolve();
  let busy = false;
  const pass = (): void => {
    if (busy) return;
    busy = true;
    current = leaseHousekeeping(leases, log)
      .catch((err: unknown) => log.warn({ err }, 'Lease housekeeping failed'))
      .finally(() => {
        busy = false;
      });
  };
  pass();
  const first = current;
  const timer = setInterval(pass, intervalMs);
  timer.unref();
  return {
    first,
    stop: async () => {
      clearInterval(timer);
      await current;
    },
  };
}

import type { FrontendFactory } from '../app/frontend.js';
import { startHousekeeping } from './janitor.js';

/** Lease housekeeping cadence: the reaper, janitor and reminders run this often. */
const intervalMs = 1000;

/**
 * The lease janitor as a server background service: syncs pools from config on start, then
 * reaps expired leases, health-checks dirty items and sends reminders every second.
 * Null when no pools are configured.
 */
export const leaseHousekeepingFrontend: FrontendFactory = (core) => {
  const leases = core.deps.leases;
  if (!leases) return null;
  const log = core.log.child({ unit: 'lease-janitor' });
  let stop: (() => Promise<void>) | null = null;
  return {
    name: 'lease-janitor',
    async start() {
      await leases.sync();
      stop = startHousekeeping(leases, log, intervalMs);
    },
    async stop() {
      await stop?.();
    },
  };
};

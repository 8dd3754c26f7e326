import type { FrontendFactory } from '../app/frontend.js';
import { startHousekeeping } from './janitor.js';

/** Lease housekeeping cadence: the reaper, janitor and reminders run this often. */
const intervalMs = 1000;
/** How long start waits for the first pass (new items' first health checks) before going on without it. */
const firstPassWaitMs = 10_000;

/**
 * The lease janitor as a server background service: syncs pools from config on start, runs a
 * first pass (up to 10 s) before the chat front ends start, then reaps expired leases,
 * health-checks dirty items and sends reminders every second.
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
      const run = startHousekeeping(leases, log, intervalMs);
      stop = run.stop;
      // The first pass health-checks new items before chat takes requests (front ends start in
      // order, this one before Slack and Zulip), so a request right after a start finds them free.
      let timer: NodeJS.Timeout | undefined;
      const waited = await Promise.race([run.first.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), firstPassWaitMs)))]);
      clearTimeout(timer);
      if (!waited) log.warn({ waitedMs: firstPassWaitMs }, 'The first lease health checks are still running; items become free as they pass');
    },
    async stop() {
      await stop?.();
    },
  };
};

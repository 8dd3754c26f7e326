import type { Harness } from './bosun-harness.js';
import { makeBuildService } from '../../src/app/build-service.js';
import { makeLeaseService } from '../../src/leases/lease-service.js';
import type { CommandContext } from '../../commands/command.js';
import type { StoredEvent } from '../../src/domain/build-event.js';

/** A command context for a Slack user against the harness's own services (leases on). */
export function commandContext(h: Harness, id: string, name: string): CommandContext {
  const core = h.server.core;
  return { actor: { id, name }, source: 'slack', builds: makeBuildService(core.deps, core.redis), leases: makeLeaseService(core.deps.leases!) };
}

/** The first event on the bus that matches, polled until `timeoutMs`. */
export async function waitForEvent(h: Harness, pred: (e: StoredEvent) => boolean, timeoutMs: number): Promise<StoredEvent> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = (await h.server.core.bus.range('-', 100_000)).find(pred);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('event not seen');
}

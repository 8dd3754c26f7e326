import PQueue from 'p-queue';
import type { Logger } from '../logger.js';

/**
 * Runs per-build cleanups (the executor's network and workspace volume, the host checkout) off
 * the advance worker, so a slow removal (Swarm frees a finished step's volume only seconds
 * after its service is gone) never holds a slot that other builds need to advance.
 *
 * Contract:
 * - `schedule(buildId)` returns at once. At most `concurrency` cleanups run at a time; a build
 *   already queued or running is not queued twice. `clean` must be idempotent.
 * - A failed cleanup is logged, never retried here.
 * - Nothing is persisted: what a crash loses, the worker pool's startup reaper (`reapBuilds`)
 *   and the workspace sweep remove later (R22).
 * - `drain()` waits until everything scheduled has run (graceful shutdown); `clear()` drops what
 *   has not started (forced shutdown).
 */
export class BackgroundCleanup {
  readonly #queue: PQueue;
  readonly #scheduled = new Set<string>();
  readonly #clean: (buildId: string) => Promise<void>;
  readonly #log: Logger;

  constructor(clean: (buildId: string) => Promise<void>, log: Logger, concurrency = 2) {
    this.#clean = clean;
    this.#log = log;
    this.#queue = new PQueue({ concurrency });
  }

  schedule(buildId: string): void {
    if (this.#scheduled.has(buildId)) return;
    this.#scheduled.add(buildId);
    void this.#queue.add(async () => {
      try {
        await this.#clean(buildId);
      } catch (err) {
        this.#log.warn({ err, buildId }, 'Cleaning up a finished build failed');
      } finally {
        this.#scheduled.delete(buildId);
      }
    });
  }

  /** Builds queued or being cleaned now. */
  get size(): number {
    return this.#scheduled.size;
  }

  async drain(): Promise<void> {
    await this.#queue.onIdle();
  }

  clear(): void {
    this.#queue.clear();
    this.#scheduled.clear();
  }
}

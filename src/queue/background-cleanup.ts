import PQueue from 'p-queue';
import type { Logger } from '../logger.js';

/**
 * Runs per-build cleanups (the executor's network and workspace volume, the host checkout) off
 * the advance worker, so a slow removal (Swarm frees a finished step's volume only seconds
 * after its service is gone) never holds a slot that other builds need to advance.
 *
 * Contract:
 * - `schedule(buildId)` returns at once; the cleanup starts `delayMs` later (default 3 s: Swarm
 *   removes a finished step's task container ~2.4 s after its service, and until then removing
 *   the volume fails and is retried every 250 ms, ~10 engine calls per build for nothing).
 *   At most `concurrency` cleanups run at a time; a build already waiting, queued or running
 *   is not queued twice. `clean` must be idempotent.
 * - A failed cleanup is logged, never retried here.
 * - Nothing is persisted: what a crash loses, the worker pool's startup reaper (`reapBuilds`)
 *   and the workspace sweep remove later (R22).
 * - `drain()` starts the waiting ones at once and waits until everything scheduled has run
 *   (graceful shutdown); `clear()` drops what has not started (forced shutdown).
 */
export class BackgroundCleanup {
  readonly #queue: PQueue;
  readonly #scheduled = new Set<string>();
  readonly #waiting = new Map<string, NodeJS.Timeout>();
  readonly #clean: (buildId: string) => Promise<void>;
  readonly #log: Logger;
  readonly #delayMs: number;

  constructor(clean: (buildId: string) => Promise<void>, log: Logger, opts: { concurrency?: number; delayMs?: number } = {}) {
    this.#clean = clean;
    this.#log = log;
    this.#queue = new PQueue({ concurrency: opts.concurrency ?? 2 });
    this.#delayMs = opts.delayMs ?? 3000;
  }

  schedule(buildId: string): void {
    if (this.#scheduled.has(buildId)) return;
    this.#scheduled.add(buildId);
    const timer = setTimeout(() => this.#start(buildId), this.#delayMs);
    timer.unref();
    this.#waiting.set(buildId, timer);
  }

  #start(buildId: string): void {
    clearTimeout(this.#waiting.get(buildId));
    this.#waiting.delete(buildId);
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
    for (const buildId of [...this.#waiting.keys()]) this.#start(buildId);
    await this.#queue.onIdle();
  }

  clear(): void {
    for (const timer of this.#waiting.values()) clearTimeout(timer);
    this.#waiting.clear();
    this.#queue.clear();
    this.#scheduled.clear();
  }
}

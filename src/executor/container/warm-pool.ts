import { freemem } from 'node:os';
import type Docker from 'dockerode';
import type { Logger } from '../../logger.js';
import type { StepLimits } from '../executor.js';
import type { Claimable } from './build-resources.js';
import { newPoolEntryId, poolResourceKey } from './pool-names.js';

/** One ready sandbox of the pool: a started container on a network and an empty workspace volume of its own. */
export interface WarmEntry extends Claimable {
  readonly imageId: string;
  readonly limits: StepLimits;
  readonly container: Docker.Container;
  /** The container's name (for the step log). */
  readonly name: string;
}

/** How entries are made and removed (the docker executor's `DockerPoolEntries`). */
export interface WarmEntryFactory {
  /** The image's ID on the engine; throws when it is not there. */
  resolveImage(ref: string): Promise<string>;
  /** A new ready entry `entryId` (network with the server's egress rules, empty volume, started sandbox). */
  create(entryId: string, imageId: string, limits: StepLimits): Promise<WarmEntry>;
  /** Removes an entry nobody claimed (container, network and its rules, volume). Idempotent. */
  remove(entry: WarmEntry): Promise<void>;
}

export interface WarmPoolOptions {
  /** Ready entries kept per image. */
  size: number;
  /** Image references to keep warm. */
  images: string[];
  /** The limits every pooled sandbox gets (the server's step limits: a claim must match them). */
  limits: StepLimits;
  /** With no claim for this long, every entry is removed (the pool refills at the next claim). */
  idleMs: number;
  factory: WarmEntryFactory;
  log: Logger;
  /** Free memory in bytes (tests); default `os.freemem`. */
  freeMemory?: () => number;
}

/**
 * After a claim that leaves ready entries of its image, the refill waits this long: the claimed
 * build's own engine calls (its fill, its first exec) would otherwise queue behind the refill's
 * network and container creation (measured: the first step's exec and cleaning took ~270 ms
 * with the refill beside them, ~100 ms without). A claim that took the last entry refills at once.
 */
export const refillDelayMs = 1000;

/**
 * The warm pool (docs/pool.md): per image (by ID) and the server's limits, `size` ready entries,
 * never shared: `take` hands one out (it is no longer the pool's) and the pool refills in the
 * background, one entry at a time (`refillDelayMs` later while entries are still ready). It never holds more entries than fit in half the machine's
 * free memory at the sandbox memory limit (logged and skipped otherwise), and with no claim for
 * `idleMs` it removes them all until the next claim. `close` removes the entries not taken.
 */
export class WarmPool {
  readonly #opts: WarmPoolOptions;
  /** Ready entries by image ID. */
  readonly #ready = new Map<string, WarmEntry[]>();
  /** Image references resolved to IDs (refreshed at each refill). */
  #targets: string[] = [];
  #lastClaim = Date.now();
  #idle = false;
  #closed = false;
  #refilling: Promise<void> | undefined;
  /** A refill due after `refillDelayMs`, and how to start it at once. */
  #soon: { done: Promise<void>; timer: NodeJS.Timeout; now: () => void } | undefined;
  #again = false;
  #budgetLogged = false;
  /** Keys of entries being made now. */
  readonly #creating = new Set<string>();
  readonly #timer: NodeJS.Timeout;

  constructor(opts: WarmPoolOptions) {
    this.#opts = opts;
    this.#timer = setInterval(() => void this.#shrinkIfIdle(), Math.min(opts.idleMs, 30_000));
    this.#timer.unref();
  }

  /** Starts filling (in the background). */
  start(): void {
    this.#refill();
  }

  /** How many entries are ready now. */
  get readyCount(): number {
    let n = 0;
    for (const list of this.#ready.values()) n += list.length;
    return n;
  }

  /** Waits until the background refill is idle (tests, the bench). */
  async settled(): Promise<void> {
    while (this.#soon || this.#refilling) await (this.#soon?.done ?? this.#refilling);
  }

  /** Whether `limits` are the pool's (a claim needs them equal). */
  matches(limits: StepLimits): boolean {
    const own = this.#opts.limits;
    return own.cpus === limits.cpus && own.memoryBytes === limits.memoryBytes && own.pids === limits.pids;
  }

  /** A ready entry of `imageId` with the pool's limits, now the caller's; undefined when none is ready. Refills either way. */
  take(imageId: string, limits: StepLimits): WarmEntry | undefined {
    if (this.#closed) return undefined;
    this.#lastClaim = Date.now();
    this.#idle = false;
    const list = this.matches(limits) ? this.#ready.get(imageId) : undefined;
    const entry = list?.shift();
    if (entry && list && list.length > 0) this.#refillSoon();
    else this.#refill();
    return entry;
  }

  /** An entry taken but not used after all (another process decided the build first): ready again. */
  giveBack(entry: WarmEntry): void {
    if (this.#closed) {
      void this.#opts.factory.remove(entry).catch(() => undefined);
      return;
    }
    this.#ready.set(entry.imageId, [...(this.#ready.get(entry.imageId) ?? []), entry]);
  }

  /** The keys of the entries ready or being made now (the reaper keeps their resources). */
  ownKeys(): Set<string> {
    const keys = new Set<string>(this.#creating);
    for (const list of this.#ready.values()) for (const e of list) keys.add(e.key);
    return keys;
  }

  /** Stops refilling and removes every entry not taken. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#soon?.now();
    await this.settled().catch(() => undefined);
    await this.#removeAll();
  }

  /** Refills `refillDelayMs` from now (once; a refill asked meanwhile starts it at once). */
  #refillSoon(): void {
    if (this.#closed || this.#soon) return;
    let now!: () => void;
    const done = new Promise<void>((resolve) => {
      now = () => {
        clearTimeout(soon.timer);
        if (this.#soon === soon) this.#soon = undefined;
        this.#refill();
        resolve();
      };
    });
    const soon = { done, timer: setTimeout(() => now(), refillDelayMs), now: () => now() };
    this.#soon = soon;
  }

  #refill(): void {
    // A refill due later starts now (its `now` comes back here).
    if (this.#soon) return this.#soon.now();
    if (this.#closed) return;
    if (this.#refilling) {
      this.#again = true;
      return;
    }
    this.#refilling = this.#fill()
      .catch((err: unknown) => this.#opts.log.warn({ err }, 'The warm pool could not refill'))
      .finally(() => {
        this.#refilling = undefined;
        if (this.#again && !this.#closed) {
          this.#again = false;
          this.#refill();
        }
      });
  }

  /** Fills every image up to `size`, one entry at a time (bounded concurrency 1). */
  async #fill(): Promise<void> {
    const { factory, log } = this.#opts;
    const targets: string[] = [];
    for (const ref of this.#opts.images) {
      try {
        targets.push(await factory.resolveImage(ref));
      } catch (err) {
        log.warn({ image: ref, err }, 'The warm pool skips an image that is not on the engine');
      }
    }
    this.#targets = targets;
    for (;;) {
      if (this.#closed || this.#idle) return;
      const imageId = this.#targets.find((id) => (this.#ready.get(id)?.length ?? 0) < this.#opts.size);
      if (!imageId) return;
      if (!this.#withinBudget()) return;
      const entryId = newPoolEntryId();
      this.#creating.add(poolResourceKey(entryId));
      let entry: WarmEntry;
      try {
        entry = await factory.create(entryId, imageId, this.#opts.limits);
      } finally {
        this.#creating.delete(poolResourceKey(entryId));
      }
      if (this.#closed || this.#idle) {
        await factory.remove(entry).catch(() => undefined);
        return;
      }
      this.#ready.set(imageId, [...(this.#ready.get(imageId) ?? []), entry]);
      log.debug({ entry: entry.entryId, image: imageId }, 'Warm sandbox ready');
    }
  }

  /** One more entry fits: (entries + 1) × the memory limit ≤ half the free memory. */
  #withinBudget(): boolean {
    const free = (this.#opts.freeMemory ?? freemem)();
    const need = (this.readyCount + 1) * this.#opts.limits.memoryBytes;
    if (need <= free / 2) {
      this.#budgetLogged = false;
      return true;
    }
    if (!this.#budgetLogged) {
      this.#budgetLogged = true;
      this.#opts.log.warn(
        { ready: this.readyCount, memoryBytes: this.#opts.limits.memoryBytes, freeBytes: free },
        'The warm pool stops short of its size: one more sandbox would not fit in half the free memory',
      );
    }
    return false;
  }

  async #shrinkIfIdle(): Promise<void> {
    if (this.#closed || this.#idle || Date.now() - this.#lastClaim < this.#opts.idleMs) return;
    this.#idle = true;
    await this.settled().catch(() => undefined);
    if (this.readyCount > 0) this.#opts.log.info({ removed: this.readyCount }, 'The warm pool was idle: it shrinks to 0 until the next claim');
    await this.#removeAll();
  }

  async #removeAll(): Promise<void> {
    const all = [...this.#ready.values()].flat();
    this.#ready.clear();
    await Promise.all(
      all.map((e) => this.#opts.factory.remove(e).catch((err: unknown) => this.#opts.log.warn({ err, entry: e.entryId }, 'Could not remove a warm sandbox'))),
    );
  }
}

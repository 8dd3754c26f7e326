/**
 * Writes one chat message per key (a step's live log), batched: however often a key is
 * touched, it is written at most once per `intervalMs` (measured from the last write's start
 * and, once it landed, its end: a write that waited out a 429 pushes the next one back), each
 * write through the shared `limiter`. The writer renders from the source of truth (the log
 * store's tail) every time, so a write that fails or is dropped loses nothing: the key stays
 * dirty and the next write shows it all. Chat-neutral: Slack and Zulip inject their writer.
 *
 * `finish` cancels the pending write, waits for a running one, and makes the final write
 * (retried up to `finalAttempts` times) unless the key has no message and nothing new arrived
 * (or, with `finalOnlyIfPosted`, unless the key has no message at all).
 * `stop` drops every pending write and waits for the running ones.
 */
export interface EditWriter<T> {
  /** Posts or edits the message for `item`; `final` on the last write. Throws when it did not land. */
  write(item: T, final: boolean): Promise<void>;
  /** Whether a message for `item` was already posted (`finish` then always writes the final state). */
  posted(item: T): Promise<boolean>;
}

export interface BatchedEditsOptions<T> {
  writer: EditWriter<T>;
  limiter: { take(): Promise<void> };
  intervalMs: number;
  /** The first write of a key waits one interval too, so a key finished sooner gets only its final write. */
  firstWriteWaits: boolean;
  /** The first write of a key waits at least this long after its first touch (a live log only for steps worth following). */
  firstWriteAfterMs?: number;
  /** `finish` writes nothing for a key whose message was never posted (a short step gets no message). */
  finalOnlyIfPosted?: boolean;
  /** Attempts at the final write (each write already waits out rate limits itself). */
  finalAttempts: number;
  /** A write that failed (the key stays dirty). */
  onError(err: unknown, item: T): void;
}

interface Entry<T> {
  item: T;
  timer?: NodeJS.Timeout;
  running?: Promise<boolean>;
  dirty: boolean;
  lastAt: number;
}

export class BatchedEdits<T> {
  readonly #entries = new Map<string, Entry<T>>();
  readonly #opts: BatchedEditsOptions<T>;

  constructor(opts: BatchedEditsOptions<T>) {
    this.#opts = opts;
  }

  /** Something new for `key`: a write follows within the interval. */
  touch(key: string, item: T): void {
    let entry = this.#entries.get(key);
    if (!entry) {
      const waits = this.#opts.firstWriteWaits ? this.#opts.intervalMs : 0;
      const first = Math.max(waits, this.#opts.firstWriteAfterMs ?? 0);
      entry = { item, dirty: false, lastAt: first > 0 ? Date.now() + first - this.#opts.intervalMs : 0 };
      this.#entries.set(key, entry);
    }
    entry.dirty = true;
    this.#schedule(key, entry);
  }

  /** The key is done: its final write, waited for. */
  async finish(key: string, item: T): Promise<void> {
    const entry = this.#entries.get(key) ?? { item, dirty: true, lastAt: 0 };
    this.#entries.delete(key);
    clearTimeout(entry.timer);
    await entry.running;
    if ((!entry.dirty || this.#opts.finalOnlyIfPosted) && !(await this.#opts.writer.posted(entry.item))) return;
    for (let attempt = 0; attempt < this.#opts.finalAttempts; attempt++) {
      if (await this.#write(entry, true)) return;
    }
  }

  async stop(): Promise<void> {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    for (const entry of entries) clearTimeout(entry.timer);
    await Promise.all(entries.map((e) => e.running));
  }

  #schedule(key: string, entry: Entry<T>): void {
    if (entry.timer || entry.running) return;
    const delay = Math.max(0, entry.lastAt + this.#opts.intervalMs - Date.now());
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      entry.running = this.#write(entry, false).finally(() => {
        entry.running = undefined;
        if (entry.dirty && this.#entries.get(key) === entry) this.#schedule(key, entry);
      });
    }, delay);
  }

  /** One write; false when it failed and the entry stays dirty. */
  async #write(entry: Entry<T>, final: boolean): Promise<boolean> {
    entry.dirty = false;
    try {
      await this.#opts.limiter.take();
      entry.lastAt = Date.now();
      await this.#opts.writer.write(entry.item, final);
      entry.lastAt = Date.now();
      return true;
    } catch (err) {
      entry.dirty = true;
      this.#opts.onError(err, entry.item);
      return false;
    }
  }
}

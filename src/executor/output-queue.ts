import type { OutputChunk } from './executor.js';

/** Something that produces output and can be paused while the reader catches up. */
export interface Pausable {
  pause(): void;
  resume(): void;
}

/**
 * A single-consumer async queue of output chunks with bounded buffering.
 *
 * Contract: every pushed chunk is yielded exactly once, in push order; iteration ends after
 * `end()` once the buffer is drained, or throws the error given to `fail()`. When more than
 * `highWaterBytes` are buffered, the registered sources are paused until the reader has
 * drained the buffer below half of it. Pushing never blocks and never drops data, so a source
 * that cannot pause (a final read) still loses nothing. Only one iteration is allowed.
 */
export class OutputQueue implements AsyncIterable<OutputChunk> {
  readonly #chunks: OutputChunk[] = [];
  readonly #sources = new Set<Pausable>();
  readonly #highWaterBytes: number;
  #buffered = 0;
  #paused = false;
  #ended = false;
  #error: unknown = undefined;
  #wake: (() => void) | undefined;
  #iterated = false;

  constructor(highWaterBytes = 8 * 1024 * 1024) {
    this.#highWaterBytes = highWaterBytes;
  }

  /** Register a source to pause under backpressure. */
  addSource(source: Pausable): void {
    this.#sources.add(source);
    if (this.#paused) source.pause();
  }

  removeSource(source: Pausable): void {
    this.#sources.delete(source);
  }

  push(stream: OutputChunk['stream'], data: Buffer): void {
    if (this.#ended || data.length === 0) return;
    this.#chunks.push({ stream, data });
    this.#buffered += data.length;
    if (!this.#paused && this.#buffered > this.#highWaterBytes) this.#setPaused(true);
    this.#notify();
  }

  /** No more chunks; iteration ends once the buffer is drained. Idempotent. */
  end(): void {
    this.#ended = true;
    this.#notify();
  }

  /** Iteration throws `err` after the buffered chunks. */
  fail(err: unknown): void {
    if (this.#ended) return;
    this.#error = err ?? new Error('output failed');
    this.end();
  }

  get ended(): boolean {
    return this.#ended;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<OutputChunk> {
    if (this.#iterated) throw new Error('output can be iterated only once');
    this.#iterated = true;
    for (;;) {
      const chunk = this.#chunks.shift();
      if (chunk) {
        this.#buffered -= chunk.data.length;
        if (this.#paused && this.#buffered <= this.#highWaterBytes / 2) this.#setPaused(false);
        yield chunk;
        continue;
      }
      if (this.#ended) break;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    if (this.#error !== undefined) throw this.#error;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #setPaused(paused: boolean): void {
    this.#paused = paused;
    for (const source of this.#sources) {
      if (paused) source.pause();
      else source.resume();
    }
  }
}

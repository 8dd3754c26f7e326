/** A report line longer than this is not one (the wrapper's is ~30 bytes after its marker). */
const maxReportBytes = 256;

/**
 * Takes a step's report line out of its stderr as it streams (`stepWithCleaningScript`): every
 * byte passes through to `emit` in order, except each `<marker>…\n` (the marker holds a
 * per-step nonce, so a step cannot print it by chance). The marker may start mid-line (after
 * the step's last bytes without a newline) and arrive split across chunks: only a tail that
 * could be the start of the marker is held back, and it is passed on as soon as it turns out
 * not to be (or at `end`). Every report line seen is kept in `reports`, in order.
 */
export class StepReportFilter {
  readonly #marker: Buffer;
  readonly #emit: (data: Buffer) => void;
  readonly #reports: string[] = [];
  #held: Buffer = Buffer.alloc(0);
  /** The report line being read (after its marker), until its newline. */
  #line: Buffer | undefined;
  #ended = false;
  #truncated = false;

  constructor(marker: string, emit: (data: Buffer) => void) {
    if (marker.length === 0) throw new Error('empty report marker');
    this.#marker = Buffer.from(marker);
    this.#emit = emit;
  }

  write(chunk: Buffer): void {
    if (this.#ended) return;
    let buf = this.#held.length > 0 ? Buffer.concat([this.#held, chunk]) : chunk;
    this.#held = Buffer.alloc(0);
    while (buf.length > 0) {
      if (this.#line !== undefined) {
        const nl = buf.indexOf(0x0a);
        const part = nl < 0 ? buf : buf.subarray(0, nl);
        if (this.#line.length + part.length > maxReportBytes) this.#truncated = true;
        else this.#line = Buffer.concat([this.#line, part]);
        if (nl < 0) return;
        this.#reports.push(this.#line.toString());
        this.#line = undefined;
        buf = buf.subarray(nl + 1);
        continue;
      }
      const at = buf.indexOf(this.#marker);
      if (at >= 0) {
        this.#pass(buf.subarray(0, at));
        this.#line = Buffer.alloc(0);
        buf = buf.subarray(at + this.#marker.length);
        continue;
      }
      const keep = this.#markerPrefixAtEnd(buf);
      this.#pass(buf.subarray(0, buf.length - keep));
      if (keep > 0) this.#held = Buffer.from(buf.subarray(buf.length - keep));
      return;
    }
  }

  /** The stream ended: a held tail that was not the marker is passed on. Idempotent. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#pass(this.#held);
    this.#held = Buffer.alloc(0);
    if (this.#line !== undefined) this.#truncated = true;
  }

  /** The report lines seen (without marker and newline). */
  get reports(): readonly string[] {
    return this.#reports;
  }

  /** A report line was cut off (no newline by the end) or too long: what was read of it is not in `reports`. */
  get truncated(): boolean {
    return this.#truncated;
  }

  #pass(data: Buffer): void {
    if (data.length > 0) this.#emit(data);
  }

  /** The length of the longest tail of `buf` that is a proper prefix of the marker (0 if none). */
  #markerPrefixAtEnd(buf: Buffer): number {
    const first = this.#marker[0];
    for (let k = Math.min(buf.length, this.#marker.length - 1); k > 0; k -= 1) {
      const start = buf.length - k;
      if (buf[start] !== first) continue;
      if (buf.compare(this.#marker, 0, k, start) === 0) return k;
    }
    return 0;
  }
}

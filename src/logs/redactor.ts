import { StringDecoder } from 'node:string_decoder';
import { Automaton, type ScanState } from './redact-automaton.js';
import { secretVariants } from './redact-variants.js';

export { minSecretLength, secretVariants } from './redact-variants.js';

/**
 * The automaton is immutable once built (scan state lives in each Redactor), so redactors over
 * the same secrets object share one: a step makes two redactors, and building one costs a
 * 128 KiB class table plus every secret's variants.
 */
const automata = new WeakMap<Record<string, string>, { key: string; automaton: Automaton }>();

function automatonFor(secrets: Record<string, string>): Automaton {
  const key = JSON.stringify(Object.entries(secrets));
  const cached = automata.get(secrets);
  if (cached?.key === key) return cached.automaton;
  const automaton = new Automaton(Object.entries(secrets).flatMap(([name, value]) => secretVariants(name, value)));
  automata.set(secrets, { key, automaton });
  return automaton;
}

/**
 * Streaming secret redactor for every sink: stored logs, chat threads, status text (R13).
 * "An airbag, not a seatbelt" (Concourse): it catches the forms listed in `secretVariants`,
 * never a value a step derived some other way (double base64 is the known example; R14).
 *
 * Modelled on Buildkite's `internal/replacer`: output is released as soon as it cannot be the
 * start of a secret, the rest is held back (at most the longest variant − 1 chars) until the
 * next write or `flush()`. Overlapping and adjacent matches become one mask.
 *
 * Not safe for concurrent use by interleaved streams: make one Redactor per stream.
 */
export class Redactor {
  private readonly automaton: Automaton;
  private readonly mask: string;
  private decoder = new StringDecoder('utf8');
  private readonly state: ScanState = { node: 0 };
  /** Text scanned but not yet released; starts at absolute position `pendingStart`. */
  private pending = '';
  private pendingStart = 0;
  /** Matches not yet released, sorted, disjoint and non-adjacent, absolute positions. */
  private spans: Span[] = [];
  /** End of the last released mask while nothing has been released after it, else -1. */
  private openMaskEnd = -1;

  constructor(secrets: Record<string, string>, mask = '[REDACTED]') {
    this.automaton = automatonFor(secrets);
    this.mask = mask;
  }

  /**
   * Feed bytes or text; returns what is safe to emit now (may hold back a tail that could be the start of a secret).
   * Feed one kind per stream: a string written while a Buffer's split UTF-8 character is still
   * in the decoder would overtake that character.
   */
  write(chunk: Buffer | string): string {
    const text = typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    if (this.automaton.isEmpty) return text;
    return this.push(text, false);
  }

  /** Emit whatever is held back (after redaction). Call at end of stream. */
  flush(): string {
    const tail = this.decoder.end();
    this.decoder = new StringDecoder('utf8');
    if (this.automaton.isEmpty) return tail;
    const out = this.push(tail, true);
    this.state.node = 0;
    this.openMaskEnd = -1;
    return out;
  }

  /** One-shot convenience for whole strings (status text, chat messages). Leaves the stream state alone. */
  redact(text: string): string {
    if (this.automaton.isEmpty) return text;
    const spans: Span[] = [];
    this.automaton.scan(text, 0, { node: 0 }, (end, length) => addSpan(spans, end - length, end));
    let out = '';
    let cursor = 0;
    for (const span of spans) {
      out += text.slice(cursor, span.start) + this.mask;
      cursor = span.end;
    }
    return out + text.slice(cursor);
  }

  private push(text: string, final: boolean): string {
    // The automaton state already summarises `pending`, so only the new text is scanned (and
    // it is a flat string: scanning the concatenation would hit V8's slow path for ropes).
    const textStart = this.pendingStart + this.pending.length;
    this.pending += text;
    // onMatch may trim `pending` mid-scan; positions stay absolute, so that is harmless.
    this.automaton.scan(text, 0, this.state, (end, length) => this.onMatch(textStart + end - length, textStart + end));

    const scannedEnd = textStart + text.length;
    // Any match still to come starts inside the automaton's current suffix, never before it.
    const safe = final ? scannedEnd : scannedEnd - this.automaton.depth(this.state);
    return this.release(safe);
  }

  private onMatch(start: number, end: number): void {
    // A match touching a mask already released extends it silently: one mask, not two.
    if (this.openMaskEnd >= 0 && start <= this.openMaskEnd) {
      let covered = end;
      while (this.spans.length > 0 && this.spans[0]!.start <= covered) {
        covered = Math.max(covered, this.spans.shift()!.end);
      }
      this.skipTo(covered);
      return;
    }
    addSpan(this.spans, start, end);
  }

  /** Releases text up to `safe`, masking spans that start at or before it. */
  private release(safe: number): string {
    let out = '';
    let consumed = 0;
    while (this.spans.length > 0 && this.spans[0]!.start <= safe) {
      const span = this.spans.shift()!;
      out += this.pending.slice(consumed, span.start - this.pendingStart) + this.mask;
      consumed = span.end - this.pendingStart;
      this.openMaskEnd = span.end;
    }
    const textEnd = safe - this.pendingStart;
    if (textEnd > consumed) {
      out += this.pending.slice(consumed, textEnd);
      consumed = textEnd;
      this.openMaskEnd = -1;
    }
    this.pending = this.pending.slice(consumed);
    this.pendingStart += consumed;
    return out;
  }

  /** Drops pending text up to `end`, already covered by the released mask. */
  private skipTo(end: number): void {
    if (end <= this.pendingStart) return;
    this.pending = this.pending.slice(end - this.pendingStart);
    this.pendingStart = end;
    this.openMaskEnd = end;
  }
}

interface Span {
  start: number;
  end: number;
}

/**
 * Matches arrive in order of end, so any span the new one overlaps or touches sits at the
 * tail of the list.
 */
function addSpan(spans: Span[], start: number, end: number): void {
  let merged = { start, end };
  while (spans.length > 0 && spans[spans.length - 1]!.end >= merged.start) {
    const last = spans.pop()!;
    merged = { start: Math.min(last.start, merged.start), end: Math.max(last.end, merged.end) };
  }
  spans.push(merged);
}

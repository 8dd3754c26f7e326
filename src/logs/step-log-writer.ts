import type { OutputChunk } from '../executor/executor.js';
import { Redactor } from './redactor.js';

/** Where finished lines go: the log store and the event stream, in that order. */
export interface LogSink {
  append(firstLine: number, lines: string[]): Promise<void>;
}

const maxLineChars = 16_384;

/**
 * Turns a step's raw output into redacted, numbered lines and ships them in batches
 * (every `flushMs` or `maxBatch` lines), so a chatty step costs a few writes a second.
 * stdout and stderr are split into lines separately (a line is never torn between them);
 * each has its own redactor so a secret split across writes is still caught (R13).
 */
export class StepLogWriter {
  private readonly redactors: Record<OutputChunk['stream'], Redactor>;
  private readonly partial: Record<OutputChunk['stream'], string> = { stdout: '', stderr: '' };
  private pending: string[] = [];
  private nextLine = 1;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private failure: unknown = null;

  constructor(
    private readonly sink: LogSink,
    secrets: Record<string, string>,
    private readonly flushMs = 250,
    private readonly maxBatch = 1000,
  ) {
    this.redactors = { stdout: new Redactor(secrets), stderr: new Redactor(secrets) };
  }

  /** Lines shipped so far plus those waiting. */
  get lineCount(): number {
    return this.nextLine - 1 + this.pending.length;
  }

  write(chunk: OutputChunk): void {
    this.take(chunk.stream, this.redactors[chunk.stream].write(chunk.data));
  }

  /** Adds a line of Bosun's own (e.g. "step timed out"), redacted like the rest. */
  note(text: string): void {
    this.pending.push(this.redactors.stdout.redact(text));
    this.schedule();
  }

  /** Flushes everything, partial lines included. Throws if any write to the sink failed. */
  async close(): Promise<void> {
    for (const stream of ['stdout', 'stderr'] as const) {
      this.take(stream, this.redactors[stream].flush());
      if (this.partial[stream]) {
        this.pending.push(this.partial[stream]);
        this.partial[stream] = '';
      }
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush();
    if (this.failure) throw this.failure;
  }

  private take(stream: OutputChunk['stream'], text: string): void {
    if (!text) return;
    const parts = (this.partial[stream] + text).split('\n');
    this.partial[stream] = parts.pop() ?? '';
    for (const part of parts) this.pending.push(part.endsWith('\r') ? part.slice(0, -1) : part);
    while (this.partial[stream].length > maxLineChars) {
      this.pending.push(this.partial[stream].slice(0, maxLineChars));
      this.partial[stream] = this.partial[stream].slice(maxLineChars);
    }
    if (this.pending.length >= this.maxBatch) void this.flush();
    else this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.pending.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, this.flushMs);
  }

  private flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.pending.length === 0) return;
      const batch = this.pending.splice(0, this.pending.length);
      const first = this.nextLine;
      this.nextLine += batch.length;
      try {
        await this.sink.append(first, batch);
      } catch (err) {
        this.failure ??= err;
      }
    });
    return this.flushing;
  }
}

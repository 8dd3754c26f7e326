import { mkdir, readFile, writeFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { quiet } from '../storage/redis-connection.js';
import { keys as makeKeys, type Keys } from '../storage/keys.js';

/** One stored line with its 1-based number within the step's log. */
export interface LogLine {
  n: number;
  text: string;
}

/**
 * Step logs: a Redis Stream per step while it runs (live tail for chat, SSE and the CLI),
 * archived to `<dataDir>/logs/<build>/<stage>/<step>.log` when the step ends. Entries hold
 * batches of already-redacted lines; a final entry marks the end.
 */
export class LogStore {
  private readonly k: Keys;
  constructor(
    private readonly redis: Redis,
    private readonly dataDir: string,
    prefix = 'bosun',
    /** How long a step's stream is kept after it ends (the archive file stays). */
    private readonly streamTtlSec = 7 * 24 * 3600,
  ) {
    this.k = makeKeys(prefix);
  }

  async append(build: string, stage: string, step: string, firstLine: number, lines: string[]): Promise<void> {
    if (lines.length === 0) return;
    await this.redis.xadd(this.k.log(build, stage, step), '*', 'n', String(firstLine), 't', lines.join('\n'));
  }

  /** Marks the end of the step's log and writes the archive file. Idempotent. */
  async finish(build: string, stage: string, step: string): Promise<void> {
    const key = this.k.log(build, stage, step);
    const entries = await this.redis.xrange(key, '-', '+');
    const lines = linesOf(entries);
    const file = this.archivePath(build, stage, step);
    await mkdir(join(file, '..'), { recursive: true });
    await writeFile(file, lines.map((l) => l.text).join('\n') + (lines.length ? '\n' : ''));
    // The end marker (unless the stream already ends with one) and the expiry in one round trip.
    const last = entries.at(-1)?.[1];
    const ended = last ? toEntry(last) === 'end' : false;
    const tail = this.redis.pipeline();
    if (!ended) tail.xadd(key, '*', 'end', '1');
    tail.expire(key, this.streamTtlSec);
    for (const [err] of (await tail.exec()) ?? []) if (err) throw err;
  }

  /** Drops a step's log (a step that is re-run starts a fresh log). */
  async reset(build: string, stage: string, step: string): Promise<void> {
    await this.redis.del(this.k.log(build, stage, step));
  }

  /** `<dataDir>/logs/<build>/<stage>/<step>.log`; a pseudo-step `kind:name` (a service's) is `<stage>/kind/name.log`. */
  archivePath(build: string, stage: string, step: string): string {
    const parts = step.split(':').map(safe);
    const file = parts.pop() ?? '_';
    return join(this.dataDir, 'logs', safe(build), safe(stage), ...parts, `${file}.log`);
  }

  /** Every line so far (from the stream, else the archive file). */
  async read(build: string, stage: string, step: string): Promise<LogLine[]> {
    const fromStream = await this.readStream(build, stage, step);
    if (fromStream.length > 0) return fromStream;
    const file = this.archivePath(build, stage, step);
    const exists = await stat(file).then(
      () => true,
      () => false,
    );
    if (!exists) return [];
    const text = await readFile(file, 'utf8');
    const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
    return text.length === 0 ? [] : lines.map((t, i) => ({ n: i + 1, text: t }));
  }

  /** The last `count` lines. */
  async tail(build: string, stage: string, step: string, count: number): Promise<LogLine[]> {
    const all = await this.read(build, stage, step);
    return all.slice(-count);
  }

  /**
   * Follows a step's log: yields lines after `afterLine` as they arrive, and returns once the
   * step's log has ended (or `signal` aborts).
   */
  async *follow(build: string, stage: string, step: string, signal: AbortSignal, afterLine = 0): AsyncGenerator<LogLine> {
    const conn = quiet(this.redis.duplicate());
    const onAbort = () => conn.disconnect();
    signal.addEventListener('abort', onAbort, { once: true });
    const key = this.k.log(build, stage, step);
    let cursor = '0-0';
    try {
      while (!signal.aborted) {
        let reply: [string, [string, string[]][]][] | null;
        try {
          reply = (await conn.xread('COUNT', 200, 'BLOCK', 1000, 'STREAMS', key, cursor)) as typeof reply;
        } catch (err) {
          if (signal.aborted) return;
          throw err;
        }
        for (const [id, fields] of reply?.[0]?.[1] ?? []) {
          cursor = id;
          const entry = toEntry(fields);
          if (entry === 'end') return;
          for (const line of entry) if (line.n > afterLine) yield line;
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      conn.disconnect();
    }
  }

  /**
   * Where a step's whole log is cheapest to read from: the archive file once the stream has
   * ended (or expired) and the file exists, else the lines in the stream so far. The file and
   * the lines number the same way (line k is the k-th line).
   */
  async rawSource(build: string, stage: string, step: string): Promise<{ file: string } | { lines: LogLine[] }> {
    const key = this.k.log(build, stage, step);
    const [last] = await this.redis.xrevrange(key, '+', '-', 'COUNT', 1);
    const file = this.archivePath(build, stage, step);
    const ended = !last || toEntry(last[1]) === 'end';
    if (
      ended &&
      (await stat(file).then(
        () => true,
        () => false,
      ))
    )
      return { file };
    return { lines: await this.readStream(build, stage, step) };
  }

  /**
   * When each batch of lines reached Bosun: `[firstLine, epochMs]` per batch, in order (a line's
   * time is its batch's). Known while the step's stream is kept (`streamTtlSec`); empty after.
   */
  async batchTimes(build: string, stage: string, step: string): Promise<[number, number][]> {
    const key = this.k.log(build, stage, step);
    const out: [number, number][] = [];
    let from = '-';
    for (;;) {
      const page = await this.redis.xrange(key, from, '+', 'COUNT', 200);
      for (const [id, fields] of page) {
        const first = fieldOf(fields, 'n');
        if (first !== undefined) out.push([Number(first), Number(id.split('-')[0])]);
      }
      if (page.length < 200) return out;
      from = `(${page[page.length - 1]![0]}`;
    }
  }

  /**
   * Follows several steps' logs at once on one connection (the web console's live tail):
   * yields each new batch (lines after `after[i]` of step `i`, with the batch's time) and each
   * end of a log, until `signal` aborts. A step whose log has not started yet is waited for.
   * Between reads (at most every `blockMs`) it yields `{ tick: true }` so the caller can look
   * at the build. The caller stops it when every log it wants has ended.
   */
  async *followSteps(
    build: string,
    steps: readonly { stage: string; step: string }[],
    after: readonly number[],
    signal: AbortSignal,
    blockMs = 1000,
  ): AsyncGenerator<{ step: number; lines: LogLine[]; at: number } | { step: number; end: true } | { tick: true }> {
    const conn = quiet(this.redis.duplicate());
    const onAbort = () => conn.disconnect();
    signal.addEventListener('abort', onAbort, { once: true });
    const keys = steps.map((s) => this.k.log(build, s.stage, s.step));
    const cursors = keys.map(() => '0-0');
    const ended = new Set<number>();
    try {
      while (!signal.aborted) {
        const open = keys.map((_, i) => i).filter((i) => !ended.has(i));
        if (open.length === 0) {
          yield { tick: true };
          await new Promise((r) => setTimeout(r, blockMs));
          continue;
        }
        let reply: [string, [string, string[]][]][] | null;
        try {
          reply = (await conn.xread('COUNT', 1000, 'BLOCK', blockMs, 'STREAMS', ...open.map((i) => keys[i]!), ...open.map((i) => cursors[i]!))) as typeof reply;
        } catch (err) {
          if (signal.aborted) return;
          throw err;
        }
        for (const [key, entries] of reply ?? []) {
          const i = keys.indexOf(key);
          if (i < 0) continue;
          for (const [id, fields] of entries) {
            cursors[i] = id;
            const entry = toEntry(fields);
            if (entry === 'end') {
              ended.add(i);
              yield { step: i, end: true };
              break;
            }
            const fresh = entry.filter((l) => l.n > (after[i] ?? 0));
            if (fresh.length > 0) yield { step: i, lines: fresh, at: Number(id.split('-')[0]) };
          }
        }
        yield { tick: true };
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      conn.disconnect();
    }
  }

  private async readStream(build: string, stage: string, step: string): Promise<LogLine[]> {
    return linesOf(await this.redis.xrange(this.k.log(build, stage, step), '-', '+'));
  }
}

function linesOf(entries: [string, string[]][]): LogLine[] {
  const out: LogLine[] = [];
  for (const [, fields] of entries) {
    const entry = toEntry(fields);
    if (entry !== 'end') out.push(...entry);
  }
  return out;
}

function fieldOf(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

function toEntry(fields: string[]): LogLine[] | 'end' {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i]!, fields[i + 1]!);
  if (map.has('end')) return 'end';
  const first = Number(map.get('n') ?? '1');
  return (map.get('t') ?? '').split('\n').map((text, i) => ({ n: first + i, text }));
}

/** Path segment that cannot escape the logs directory. */
function safe(segment: string): string {
  return segment.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
}

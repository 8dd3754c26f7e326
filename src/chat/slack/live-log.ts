import type { Logger } from '../../logger.js';
import type { LogLine } from '../../logs/log-store.js';
import type { SlackApi } from './slack-api.js';
import type { RateLimiter } from './rate-limiter.js';
import type { ThreadRef, ThreadStore } from './thread-store.js';
import { renderLogExcerpt } from './render-build.js';

interface Entry {
  thread: ThreadRef;
  timer?: NodeJS.Timeout;
  running?: Promise<void>;
  dirty: boolean;
  lastAt: number;
}

export interface LiveLogDeps {
  api: SlackApi;
  store: ThreadStore;
  logs: { tail(build: string, stage: string, step: string, count: number): Promise<LogLine[]> };
  limiter: RateLimiter;
  intervalMs: number;
  log: Logger;
}

/** Lines read from the store per edit; the renderer keeps the last ~3.5k characters. */
const tailLines = 200;

/**
 * One live-log message per step, edited in place as lines arrive. Edits are batched (at most
 * one per `intervalMs` per message, and through the global limiter), and every edit re-reads
 * the log store's tail instead of appending deltas, so a dropped or rate-limited edit loses
 * no line: the next one shows them. `finish` makes the final edit and waits for it.
 */
export class LiveLog {
  private readonly entries = new Map<string, Entry>();
  constructor(private readonly deps: LiveLogDeps) {}

  touch(buildId: string, stage: string, step: string, thread: ThreadRef): void {
    const key = `${buildId}\n${stage}\n${step}`;
    let entry = this.entries.get(key);
    if (!entry) {
      // The first post waits one interval too: a step that ends sooner gets one message, its final one.
      entry = { thread, dirty: false, lastAt: Date.now() };
      this.entries.set(key, entry);
    }
    entry.dirty = true;
    this.schedule(key, entry, buildId, stage, step);
  }

  async finish(buildId: string, stage: string, step: string, thread: ThreadRef): Promise<void> {
    const key = `${buildId}\n${stage}\n${step}`;
    const entry = this.entries.get(key) ?? { thread, dirty: true, lastAt: 0 };
    this.entries.delete(key);
    clearTimeout(entry.timer);
    await entry.running;
    const hasMessage = await this.deps.store.get(buildId, field(stage, step));
    if (!hasMessage && !entry.dirty) return;
    await this.edit(entry, buildId, stage, step, true);
  }

  async stop(): Promise<void> {
    for (const entry of this.entries.values()) clearTimeout(entry.timer);
    await Promise.all([...this.entries.values()].map((e) => e.running));
    this.entries.clear();
  }

  private schedule(key: string, entry: Entry, buildId: string, stage: string, step: string): void {
    if (entry.timer || entry.running) return;
    const delay = Math.max(0, entry.lastAt + this.deps.intervalMs - Date.now());
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      entry.running = this.edit(entry, buildId, stage, step, false).finally(() => {
        entry.running = undefined;
        if (entry.dirty && this.entries.get(key) === entry) this.schedule(key, entry, buildId, stage, step);
      });
    }, delay);
  }

  private async edit(entry: Entry, buildId: string, stage: string, step: string, done: boolean): Promise<void> {
    entry.dirty = false;
    try {
      await this.deps.limiter.take();
      entry.lastAt = Date.now();
      const lines = await this.deps.logs.tail(buildId, stage, step, tailLines);
      const msg = renderLogExcerpt(stage, step, lines.map((l) => l.text), done);
      const ts = await this.deps.store.get(buildId, field(stage, step));
      if (!ts && lines.length === 0) return; // a silent step gets no log message
      if (ts) {
        await this.deps.api.chat.update({ channel: entry.thread.channel, ts, ...msg });
      } else {
        const posted = await this.deps.api.chat.postMessage({ channel: entry.thread.channel, thread_ts: entry.thread.ts, ...msg });
        if (posted.ts) await this.deps.store.set(buildId, field(stage, step), posted.ts);
      }
    } catch (err) {
      entry.dirty = true;
      this.deps.log.warn({ err, buildId, stage, step }, 'Slack live-log edit failed');
    }
  }
}

function field(stage: string, step: string): string {
  return `log:${stage}/${step}`;
}

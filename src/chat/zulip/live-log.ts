import type { Logger } from '../../logger.js';
import type { LogLine } from '../../logs/log-store.js';
import type { RateLimiter } from '../slack/rate-limiter.js';
import { editRefused, type ZulipApi } from './zulip-api.js';
import type { TopicRef, TopicStore } from './topic-store.js';
import { renderLogExcerpt } from './render-topic.js';

interface Entry {
  topic: TopicRef;
  timer?: NodeJS.Timeout;
  running?: Promise<void>;
  dirty: boolean;
  lastAt: number;
}

export interface ZulipLiveLogDeps {
  api: ZulipApi;
  store: TopicStore;
  logs: { tail(build: string, stage: string, step: string, count: number): Promise<LogLine[]> };
  limiter: RateLimiter;
  intervalMs: number;
  log: Logger;
}

const tailLines = 200;

/**
 * One live-log message per step in the build's topic, edited in place (`PATCH
 * /messages/{id}`) as lines arrive: at most one edit per `intervalMs` per message and through
 * the process-wide limiter. Every edit re-reads the log store's tail instead of sending deltas,
 * so an edit lost to a 429 (after its Retry-After waits) or an error loses no line: the next
 * edit shows them. `finish` makes the final edit and waits for it.
 */
export class ZulipLiveLog {
  private readonly entries = new Map<string, Entry>();
  constructor(private readonly deps: ZulipLiveLogDeps) {}

  touch(buildId: string, stage: string, step: string, topic: TopicRef): void {
    const key = `${buildId}\n${stage}\n${step}`;
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { topic, dirty: false, lastAt: 0 };
      this.entries.set(key, entry);
    }
    entry.dirty = true;
    this.schedule(key, entry, buildId, stage, step);
  }

  async finish(buildId: string, stage: string, step: string, topic: TopicRef): Promise<void> {
    const key = `${buildId}\n${stage}\n${step}`;
    const entry = this.entries.get(key) ?? { topic, dirty: true, lastAt: 0 };
    this.entries.delete(key);
    clearTimeout(entry.timer);
    await entry.running;
    const hasMessage = await this.deps.store.get(buildId, field(stage, step));
    if (!hasMessage && !entry.dirty) return;
    // The final edit must land: try again (each attempt already waits out 429s) a few times.
    for (let attempt = 0; attempt < 3; attempt++) {
      if (await this.edit(entry, buildId, stage, step, true)) return;
    }
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
      entry.running = this.edit(entry, buildId, stage, step, false).then(() => undefined).finally(() => {
        entry.running = undefined;
        if (entry.dirty && this.entries.get(key) === entry) this.schedule(key, entry, buildId, stage, step);
      });
    }, delay);
  }

  /** One edit (or the first post); false when it failed and the entry stays dirty. */
  private async edit(entry: Entry, buildId: string, stage: string, step: string, done: boolean): Promise<boolean> {
    entry.dirty = false;
    try {
      await this.deps.limiter.take();
      entry.lastAt = Date.now();
      const lines = await this.deps.logs.tail(buildId, stage, step, tailLines);
      const content = renderLogExcerpt(stage, step, lines.map((l) => l.text), done);
      const id = await this.deps.store.get(buildId, field(stage, step));
      if (!id && lines.length === 0) return true; // a silent step gets no log message
      const refused = id ? await this.deps.api.edit(id, content).then(() => false, (err: unknown) => {
        if (editRefused(err)) return true;
        throw err;
      }) : true;
      if (refused) {
        // No message yet, or Zulip no longer lets us edit it (edit time limit): post a new one.
        const posted = await this.deps.api.send({ stream: entry.topic.stream, topic: entry.topic.topic }, content);
        await this.deps.store.set(buildId, field(stage, step), posted);
      }
      entry.lastAt = Date.now();
      return true;
    } catch (err) {
      entry.dirty = true;
      this.deps.log.warn({ err, buildId, stage, step }, 'Zulip live-log edit failed');
      return false;
    }
  }
}

function field(stage: string, step: string): string {
  return `log:${stage}/${step}`;
}

import type { Logger } from '../../logger.js';
import type { LogLine } from '../../logs/log-store.js';
import type { SlackApi } from './slack-api.js';
import type { RateLimiter } from './rate-limiter.js';
import type { ThreadRef, ThreadStore } from './thread-store.js';
import { renderLogExcerpt } from './render-build.js';
import { BatchedEdits } from '../batched-edits.js';

/** One step's live log: where it is posted. */
interface StepLog {
  buildId: string;
  stage: string;
  step: string;
  thread: ThreadRef;
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
 * one per `intervalMs` per message, and through the global limiter: `BatchedEdits`), and every
 * edit re-reads the log store's tail instead of appending deltas, so a dropped or rate-limited
 * edit loses no line: the next one shows them. `finish` makes the final edit and waits for it.
 */
export class LiveLog {
  private readonly edits: BatchedEdits<StepLog>;
  constructor(private readonly deps: LiveLogDeps) {
    this.edits = new BatchedEdits<StepLog>({
      writer: { write: (item, final) => this.write(item, final), posted: async (item) => Boolean(await deps.store.get(item.buildId, field(item.stage, item.step))) },
      limiter: deps.limiter,
      intervalMs: deps.intervalMs,
      // The first post waits one interval too: a step that ends sooner gets one message, its final one.
      firstWriteWaits: true,
      finalAttempts: 1,
      onError: (err, { buildId, stage, step }) => deps.log.warn({ err, buildId, stage, step }, 'Slack live-log edit failed'),
    });
  }

  touch(buildId: string, stage: string, step: string, thread: ThreadRef): void {
    this.edits.touch(`${buildId}\n${stage}\n${step}`, { buildId, stage, step, thread });
  }

  finish(buildId: string, stage: string, step: string, thread: ThreadRef): Promise<void> {
    return this.edits.finish(`${buildId}\n${stage}\n${step}`, { buildId, stage, step, thread });
  }

  stop(): Promise<void> {
    return this.edits.stop();
  }

  private async write({ buildId, stage, step, thread }: StepLog, done: boolean): Promise<void> {
    const lines = await this.deps.logs.tail(buildId, stage, step, tailLines);
    const msg = renderLogExcerpt(stage, step, lines.map((l) => l.text), done);
    const ts = await this.deps.store.get(buildId, field(stage, step));
    if (!ts && lines.length === 0) return; // a silent step gets no log message
    if (ts) {
      await this.deps.api.chat.update({ channel: thread.channel, ts, ...msg });
    } else {
      const posted = await this.deps.api.chat.postMessage({ channel: thread.channel, thread_ts: thread.ts, ...msg });
      if (posted.ts) await this.deps.store.set(buildId, field(stage, step), posted.ts);
    }
  }
}

function field(stage: string, step: string): string {
  return `log:${stage}/${step}`;
}

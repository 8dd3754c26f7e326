import type { Logger } from '../../logger.js';
import type { LogLine } from '../../logs/log-store.js';
import type { SlackApi } from './slack-api.js';
import type { RateLimiter } from './rate-limiter.js';
import type { ThreadRef, ThreadStore } from './thread-store.js';
import { renderLogExcerpt } from './render-build.js';
import { StepLiveLog, stepLogField, type StepLog } from '../step-live-log.js';

export interface LiveLogDeps {
  api: SlackApi;
  store: ThreadStore;
  logs: { tail(build: string, stage: string, step: string, count: number): Promise<LogLine[]> };
  limiter: RateLimiter;
  intervalMs: number;
  /** A step's live-log message is first posted once it has printed for this long; a step that ends sooner gets none. */
  afterMs?: number;
  log: Logger;
}

/**
 * One live-log message per step in the build's thread, edited in place (`chat.update`) as lines
 * arrive; batching, the limiter and the final edit are `StepLiveLog`'s. The first post waits
 * one interval, and at least `afterMs` after the step's first line: a step that ends sooner
 * gets no live-log message at all (its line in the root and the web log tell how it went; a
 * failure's last lines are the reporter's). A posted message gets its final edit.
 */
export class LiveLog extends StepLiveLog<ThreadRef, string> {
  constructor(private readonly deps: LiveLogDeps) {
    super(deps, { platform: 'Slack', firstWriteWaits: true, finalAttempts: 1, firstWriteAfterMs: deps.afterMs ?? 0, finalOnlyIfPosted: true });
  }

  protected async show({ buildId, stage, step, where: thread }: StepLog<ThreadRef>, lines: string[], ts: string | null, done: boolean): Promise<void> {
    const msg = renderLogExcerpt(stage, step, lines, done);
    if (ts) {
      await this.deps.api.chat.update({ channel: thread.channel, ts, ...msg });
    } else {
      const posted = await this.deps.api.chat.postMessage({ channel: thread.channel, thread_ts: thread.ts, ...msg });
      if (posted.ts) await this.deps.store.set(buildId, stepLogField(stage, step), posted.ts);
    }
  }
}

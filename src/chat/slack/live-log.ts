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
  log: Logger;
}

/**
 * One live-log message per step in the build's thread, edited in place (`chat.update`) as lines
 * arrive; batching, the limiter and the final edit are `StepLiveLog`'s. The first post waits
 * one interval too: a step that ends sooner gets one message, its final one.
 */
export class LiveLog extends StepLiveLog<ThreadRef, string> {
  constructor(private readonly deps: LiveLogDeps) {
    super(deps, { platform: 'Slack', firstWriteWaits: true, finalAttempts: 1 });
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

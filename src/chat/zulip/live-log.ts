import type { Logger } from '../../logger.js';
import type { LogLine } from '../../logs/log-store.js';
import type { RateLimiter } from '../slack/rate-limiter.js';
import { editRefused, type ZulipApi } from './zulip-api.js';
import type { TopicRef, TopicStore } from './topic-store.js';
import { renderLogExcerpt } from './render-topic.js';
import { StepLiveLog, stepLogField, type StepLog } from '../step-live-log.js';

export interface ZulipLiveLogDeps {
  api: ZulipApi;
  store: TopicStore;
  logs: { tail(build: string, stage: string, step: string, count: number): Promise<LogLine[]> };
  limiter: RateLimiter;
  intervalMs: number;
  log: Logger;
}

/**
 * One live-log message per step in the build's topic, edited in place (`PATCH
 * /messages/{id}`) as lines arrive; batching, the limiter and the final edit are
 * `StepLiveLog`'s. An edit lost to a 429 (after its Retry-After waits) or an error loses no
 * line, and the next edit is spaced from the end of the last one. The final edit must land:
 * it is tried three times.
 */
export class ZulipLiveLog extends StepLiveLog<TopicRef, number> {
  constructor(private readonly deps: ZulipLiveLogDeps) {
    super(deps, { platform: 'Zulip', firstWriteWaits: false, finalAttempts: 3 });
  }

  protected async show({ buildId, stage, step, where: topic }: StepLog<TopicRef>, lines: string[], id: number | null, done: boolean): Promise<void> {
    const content = renderLogExcerpt(stage, step, lines, done);
    const refused = id
      ? await this.deps.api.edit(id, content).then(
          () => false,
          (err: unknown) => {
            if (editRefused(err)) return true;
            throw err;
          },
        )
      : true;
    if (refused) {
      // No message yet, or Zulip no longer lets us edit it (edit time limit): post a new one.
      const posted = await this.deps.api.send({ stream: topic.stream, topic: topic.topic }, content);
      await this.deps.store.set(buildId, stepLogField(stage, step), posted);
    }
  }
}

import type { Logger } from '../../logger.js';
import type { LogLine } from '../../logs/log-store.js';
import type { RateLimiter } from '../slack/rate-limiter.js';
import { editRefused, type ZulipApi } from './zulip-api.js';
import type { TopicRef, TopicStore } from './topic-store.js';
import { renderLogExcerpt } from './render-topic.js';
import { BatchedEdits } from '../batched-edits.js';

/** One step's live log: where it is posted. */
interface StepLog {
  buildId: string;
  stage: string;
  step: string;
  topic: TopicRef;
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
 * the process-wide limiter (`BatchedEdits`). Every edit re-reads the log store's tail instead of sending deltas,
 * so an edit lost to a 429 (after its Retry-After waits) or an error loses no line: the next
 * edit shows them. `finish` makes the final edit and waits for it.
 */
export class ZulipLiveLog {
  private readonly edits: BatchedEdits<StepLog>;
  constructor(private readonly deps: ZulipLiveLogDeps) {
    this.edits = new BatchedEdits<StepLog>({
      writer: { write: (item, final) => this.write(item, final), posted: async (item) => Boolean(await deps.store.get(item.buildId, field(item.stage, item.step))) },
      limiter: deps.limiter,
      intervalMs: deps.intervalMs,
      firstWriteWaits: false,
      // The final edit must land: try again (each attempt already waits out 429s) a few times.
      finalAttempts: 3,
      onError: (err, { buildId, stage, step }) => deps.log.warn({ err, buildId, stage, step }, 'Zulip live-log edit failed'),
    });
  }

  touch(buildId: string, stage: string, step: string, topic: TopicRef): void {
    this.edits.touch(`${buildId}\n${stage}\n${step}`, { buildId, stage, step, topic });
  }

  finish(buildId: string, stage: string, step: string, topic: TopicRef): Promise<void> {
    return this.edits.finish(`${buildId}\n${stage}\n${step}`, { buildId, stage, step, topic });
  }

  stop(): Promise<void> {
    return this.edits.stop();
  }

  /** One edit (or the first post). */
  private async write({ buildId, stage, step, topic }: StepLog, done: boolean): Promise<void> {
    const lines = await this.deps.logs.tail(buildId, stage, step, tailLines);
    const content = renderLogExcerpt(stage, step, lines.map((l) => l.text), done);
    const id = await this.deps.store.get(buildId, field(stage, step));
    if (!id && lines.length === 0) return; // a silent step gets no log message
    const refused = id ? await this.deps.api.edit(id, content).then(() => false, (err: unknown) => {
      if (editRefused(err)) return true;
      throw err;
    }) : true;
    if (refused) {
      // No message yet, or Zulip no longer lets us edit it (edit time limit): post a new one.
      const posted = await this.deps.api.send({ stream: topic.stream, topic: topic.topic }, content);
      await this.deps.store.set(buildId, field(stage, step), posted);
    }
  }
}

function field(stage: string, step: string): string {
  return `log:${stage}/${step}`;
}

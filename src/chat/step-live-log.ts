import type { Logger } from '../logger.js';
import type { LogLine } from '../logs/log-store.js';
import { BatchedEdits } from './batched-edits.js';

/** A step's live log and where its chat message goes (a Slack thread, a Zulip topic). */
export interface StepLog<Where> {
  buildId: string;
  stage: string;
  step: string;
  where: Where;
}

/** What every chat's live log needs; `store` holds each step's message id under `stepLogField`. */
export interface StepLiveLogDeps<Id> {
  store: { get(buildId: string, field: string): Promise<Id | null> };
  logs: { tail(build: string, stage: string, step: string, count: number): Promise<LogLine[]> };
  limiter: { take(): Promise<void> };
  intervalMs: number;
  log: Logger;
}

/** Lines read from the store per edit; the renderers keep the last few thousand characters. */
const tailLines = 200;

/** The thread/topic store field that holds a step's live-log message id. */
export function stepLogField(stage: string, step: string): string {
  return `log:${stage}/${step}`;
}

/**
 * One live-log message per step, edited in place as lines arrive, for any chat: batched by
 * `BatchedEdits` (at most one edit per `intervalMs` per message, through the chat's limiter),
 * and every edit re-reads the log store's tail instead of sending deltas, so an edit that was
 * dropped or rate-limited loses no line: the next one shows them. A step with no output gets
 * no message. The chat says how to post and edit (`show`). `finish` makes the final edit and
 * waits for it.
 */
export abstract class StepLiveLog<Where, Id> {
  readonly #edits: BatchedEdits<StepLog<Where>>;
  readonly #deps: StepLiveLogDeps<Id>;

  protected constructor(
    deps: StepLiveLogDeps<Id>,
    how: { platform: string; firstWriteWaits: boolean; finalAttempts: number; firstWriteAfterMs?: number; finalOnlyIfPosted?: boolean },
  ) {
    this.#deps = deps;
    this.#edits = new BatchedEdits<StepLog<Where>>({
      writer: {
        write: (item, final) => this.#write(item, final),
        posted: async (item) => (await deps.store.get(item.buildId, stepLogField(item.stage, item.step))) !== null,
      },
      limiter: deps.limiter,
      intervalMs: deps.intervalMs,
      firstWriteWaits: how.firstWriteWaits,
      finalAttempts: how.finalAttempts,
      ...(how.firstWriteAfterMs !== undefined ? { firstWriteAfterMs: how.firstWriteAfterMs } : {}),
      ...(how.finalOnlyIfPosted ? { finalOnlyIfPosted: true } : {}),
      onError: (err, { buildId, stage, step }) => deps.log.warn({ err, buildId, stage, step }, `${how.platform} live-log edit failed`),
    });
  }

  /** New lines in the step's log. */
  touch(buildId: string, stage: string, step: string, where: Where): void {
    this.#edits.touch(`${buildId}\n${stage}\n${step}`, { buildId, stage, step, where });
  }

  /** The step ended: its final edit, waited for. */
  finish(buildId: string, stage: string, step: string, where: Where): Promise<void> {
    return this.#edits.finish(`${buildId}\n${stage}\n${step}`, { buildId, stage, step, where });
  }

  stop(): Promise<void> {
    return this.#edits.stop();
  }

  /** Posts `lines` as the step's first message (`id` null) or edits message `id`; throws when it did not land. */
  protected abstract show(log: StepLog<Where>, lines: string[], id: Id | null, final: boolean): Promise<void>;

  async #write(log: StepLog<Where>, final: boolean): Promise<void> {
    const lines = await this.#deps.logs.tail(log.buildId, log.stage, log.step, tailLines);
    const id = await this.#deps.store.get(log.buildId, stepLogField(log.stage, log.step));
    if (id === null && lines.length === 0) return; // a silent step gets no log message
    await this.show(
      log,
      lines.map((l) => l.text),
      id,
      final,
    );
  }
}

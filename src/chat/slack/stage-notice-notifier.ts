import type { StoredEvent } from '../../domain/build-event.js';
import { escapeSlack } from '../../domain/escape-chat.js';
import type { EventHandler } from '../../events/event-bus.js';
import type { SlackApi } from './slack-api.js';
import type { ThreadRef } from './thread-store.js';

/**
 * Says in a build's thread why one of its stages is not moving (`stage.notice`: no worker has
 * its labels). Only builds that have a thread are told; `status` shows the notice for all.
 * At-least-once delivery is made once-only per event id with `firstSeen`.
 */
export class StageNoticeNotifier implements EventHandler {
  readonly name = 'slack-stage-notices';
  constructor(
    private readonly api: SlackApi,
    private readonly threads: { root(buildId: string): Promise<ThreadRef | null> },
    private readonly firstSeen: (key: string) => Promise<boolean>,
  ) {}

  async handle(event: StoredEvent): Promise<void> {
    if (event.type !== 'stage.notice') return;
    const root = await this.threads.root(event.buildId);
    if (!root || !(await this.firstSeen(`stage-notice:${event.id}`))) return;
    await this.api.chat.postMessage({ channel: root.channel, thread_ts: root.ts, text: `:warning: *${escapeSlack(event.stage)}*: ${escapeSlack(event.text)}` });
  }
}

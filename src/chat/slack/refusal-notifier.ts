import type { StoredEvent } from '../../domain/build-event.js';
import { escapeSlack } from '../../domain/escape-chat.js';
import type { EventHandler } from '../../events/event-bus.js';
import type { SlackApi } from './slack-api.js';
import type { SlackConfig } from './slack-config.js';

/**
 * Posts a change Bosun refused before building it (`push.refused`: a branch name it will not
 * handle) in the channel where builds from GitHub are posted (`slack.defaultChannel`), when
 * that channel hears about failures. Slack has no per-repository channel in Bosun's config;
 * without a default channel nothing is posted (the commit status still says why). At-least-once
 * delivery is made once-only per event id with `firstSeen`.
 */
export class RefusalNotifier implements EventHandler {
  readonly name = 'slack-refusals';
  constructor(
    private readonly api: SlackApi,
    private readonly config: Pick<SlackConfig, 'defaultChannel' | 'channels'>,
    private readonly firstSeen: (key: string) => Promise<boolean>,
  ) {}

  async handle(event: StoredEvent): Promise<void> {
    if (event.type !== 'push.refused') return;
    const channel = this.config.defaultChannel;
    if (!channel) return;
    const notify = this.config.channels[channel]?.notify ?? ['all'];
    if (!notify.includes('all') && !notify.includes('failures')) return;
    if (!(await this.firstSeen(`refused:${event.id}`))) return;
    await this.api.chat.postMessage({ channel, text: `:no_entry: ${escapeSlack(event.text)}`, unfurl_links: false });
  }
}

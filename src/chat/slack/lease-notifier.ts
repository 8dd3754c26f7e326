import type { StoredEvent } from '../../domain/build-event.js';
import { escapeSlack } from '../../domain/escape-chat.js';
import { humanTime } from '../../domain/human-time.js';
import { slackDate } from './slack-date.js';
import { renderLeaseReminder } from './render-build.js';
import type { EventHandler } from '../../events/event-bus.js';
import type { SlackApi } from './slack-api.js';

const notified = new Set(['lease.granted', 'lease.waiting', 'lease.reminder', 'lease.expired']);

/**
 * Tells people about their own leases by direct message: granted (including "you're next"
 * grants from the wait list), waiting in line, the reminder before expiry, expired.
 * Pipeline leases (with a build) are told in the build's thread instead, so they are skipped.
 * Only Slack holders (`slack:<team>/<user>`) are messaged. At-least-once delivery is made
 * once-only per event id with `firstSeen`.
 */
export class LeaseNotifier implements EventHandler {
  readonly name = 'slack-leases';
  constructor(
    private readonly api: SlackApi,
    private readonly firstSeen: (key: string) => Promise<boolean>,
  ) {}

  async handle(event: StoredEvent): Promise<void> {
    if (!notified.has(event.type) || !('holder' in event) || !event.holder || !('text' in event)) return;
    if ('buildId' in event && event.buildId) return;
    const user = /^slack:[A-Z0-9]+\/([A-Z0-9]+)$/.exec(event.holder.id)?.[1];
    if (!user || !(await this.firstSeen(`lease-dm:${event.id}`))) return;
    const opened = await this.api.conversations.open({ users: user });
    const channel = opened.channel?.id;
    if (!channel) return;
    let text = escapeSlack(event.text);
    // The event's text says when in UTC; in Slack each reader sees their own time.
    if ('expiresAt' in event && event.expiresAt) text = text.replace(escapeSlack(humanTime(event.expiresAt)), slackDate(event.expiresAt));
    if (event.type === 'lease.reminder') {
      text += `\nExtend: \`/ci ${escapeSlack(event.actions.extend)}\` · Release: \`/ci ${escapeSlack(event.actions.release)}\``;
      await this.api.chat.postMessage({ channel, ...renderLeaseReminder(text, event.actions, event.leaseId) });
      return;
    }
    await this.api.chat.postMessage({ channel, text });
  }
}

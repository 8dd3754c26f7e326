import type { StoredEvent } from '../../domain/build-event.js';
import type { EventHandler } from '../../events/event-bus.js';
import type { ZulipApi } from './zulip-api.js';
import { zulipUserId } from './render-topic.js';
import { zulipText } from './zulip-markdown.js';

const notified = new Set(['lease.granted', 'lease.waiting', 'lease.reminder', 'lease.expired']);

/**
 * Tells Zulip users about their own leases by DM: granted (also "your turn" from the wait
 * list), waiting in line, the reminder before expiry (with the renew and release commands),
 * expired. Pipeline leases are told in the build's topic instead. Only holders of this realm
 * (`zulip:<host>/<id>`) are messaged; `firstSeen` makes at-least-once delivery once-only.
 */
export class ZulipLeaseNotifier implements EventHandler {
  readonly name = 'zulip-leases';
  constructor(
    private readonly api: ZulipApi,
    private readonly realmHost: string,
    private readonly bot: string,
    private readonly firstSeen: (key: string) => Promise<boolean>,
  ) {}

  async handle(event: StoredEvent): Promise<void> {
    if (!notified.has(event.type) || !('holder' in event) || !event.holder || !('text' in event)) return;
    if ('buildId' in event && event.buildId) return;
    const userId = zulipUserId(event.holder.id, this.realmHost);
    if (userId === null || !(await this.firstSeen(`lease-dm:${event.id}`))) return;
    let text = zulipText(event.text);
    if (event.type === 'lease.reminder')
      text += `\nExtend: \`${this.bot} ${zulipText(event.actions.extend)}\` · Release: \`${this.bot} ${zulipText(event.actions.release)}\``;
    else if (event.type === 'lease.granted') text += `\nGive it back: \`${this.bot} release ${zulipText(event.leaseId)}\``;
    await this.api.send({ userIds: [userId] }, text);
  }
}

import { humanTime } from '../../domain/human-time.js';
import { escapeSlack } from '../../domain/escape-chat.js';

/**
 * A moment in Slack mrkdwn that each reader sees in their own time zone:
 * `<!date^1796547906^{date_short_pretty} {time}|6 Dec 09:05 UTC>` (the part after `|` is what
 * clients that cannot format dates show). Already escaped: insert it into escaped text as is.
 * An unparsable input is shown escaped, as it is.
 */
export function slackDate(iso: string | undefined): string {
  if (!iso) return '';
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return escapeSlack(iso);
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} {time}|${escapeSlack(humanTime(iso))}>`;
}

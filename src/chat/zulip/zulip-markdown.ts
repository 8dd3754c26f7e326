import { escapeZulip } from '../../domain/escape-chat.js';

const zeroWidthSpace = '\u200b';

/**
 * Untrusted text (branch names, commit messages, instructions) for Zulip markdown (R12):
 * mentions (`@**all**`), stream links and link syntax are made inert by `escapeZulip`, and
 * runs of backticks or tildes are broken so no fence can open a code block, a spoiler
 * (```` ```spoiler ````), a quote or math block.
 */
export function zulipText(text: string): string {
  return escapeZulip(text)
    .replace(/`(?=`)/g, `\`${zeroWidthSpace}`)
    .replace(/~(?=~)/g, `~${zeroWidthSpace}`);
}

/**
 * Untrusted lines as a fenced code block. Inside a block Zulip renders nothing (no mentions,
 * no links), so only the fence matters: every run of ``` or ~~~ in the body is broken, and the
 * fences stand on their own lines.
 */
export function zulipCodeBlock(text: string): string {
  const body = text.replace(/`(?=`)/g, `\`${zeroWidthSpace}`).replace(/~(?=~)/g, `~${zeroWidthSpace}`);
  return `\`\`\`text\n${body}\n\`\`\``;
}

/** A topic name: plain text (Zulip renders no markdown there), at most 60 characters. */
export function topicName(text: string): string {
  const flat = text.replace(/[\r\n\t]+/g, ' ').trim();
  return flat.length <= 60 ? flat : `${flat.slice(0, 59)}…`;
}

/** A silent mention (`@_**Name|42**_`) that links the person without notifying them. */
export function silentMention(name: string, userId: number): string {
  const safe = name.replace(/[*|_@`\r\n]/g, '').trim() || 'user';
  return `@_**${safe}|${userId}**_`;
}

/** A link to a stream topic (`#**stream>topic**`); Zulip cannot link names with `>` or `*`. */
export function topicLink(stream: string, topic: string): string {
  if (/[>*`\r\n]/.test(stream) || /[*`\r\n]/.test(topic)) return `${zulipText(stream)} › ${zulipText(topic)}`;
  return `#**${stream}>${topic}**`;
}

/**
 * A moment as Zulip's global time (`<time:2026-12-06T09:05:06Z>`): each reader sees it in their
 * own time zone. Anything that is not a time is shown as escaped text.
 */
export function zulipTime(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return zulipText(iso);
  return `<time:${new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z')}>`;
}

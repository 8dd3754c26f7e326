/**
 * Encoding untrusted text (branch names, commit messages, log excerpts) on its way out to chat
 * (R12). Slack names `&`, `<` and `>` as its only control characters; everything else in
 * mrkdwn is cosmetic. Zulip has no such escape, so we break its trigger sequences with a
 * zero-width space (U+200B): invisible when rendered, but copied along if someone copies the
 * text, which is the price of making `@**all**` inert.
 */
const zeroWidthSpace = '\u200b';

/** Slack mrkdwn control characters: & < > → &amp; &lt; &gt; (so `<!channel>` renders inert). */
export function escapeSlack(text: string): string {
  return text.replace(/[&<>]/g, (ch) => (ch === '&' ? '&amp;' : ch === '<' ? '&lt;' : '&gt;'));
}

/** Wrap untrusted text as a code block safely (break any ``` inside it). Escapes & < > too (Slack still parses those inside code). */
export function codeBlock(text: string): string {
  // A zero-width space after every backtick that precedes another means no run of three
  // (or more) survives to close our block early.
  const body = escapeSlack(text).replace(/`(?=`)/g, `\`${zeroWidthSpace}`);
  // Fences on their own lines, so a backtick at either end of the body cannot join them.
  return `\`\`\`\n${body}\n\`\`\``;
}

/** Zulip markdown: neutralise @**mentions**, @_**silent**_, and link syntax, so untrusted text cannot ping or forge links. */
export function escapeZulip(text: string): string {
  return (
    text
      // Mentions (@**all**, @_**Name**_, @*group*) and stream links (#**stream>topic**) need
      // the sigil right before `*` or `_`.
      .replace(/([@#])(?=[*_])/g, `$1${zeroWidthSpace}`)
      // Inline links [text](url), reference links [text][id] and definitions [id]: url all need
      // `]` immediately followed by `(`, `[` or `:`.
      .replace(/\](?=[([:])/g, `]${zeroWidthSpace}`)
  );
}

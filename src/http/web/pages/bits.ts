import type { Build } from '../../../domain/build.js';
import { humanDuration, humanTime, relativeTime } from '../../../domain/human-time.js';
import type { RunStatus } from '../../../domain/status.js';
import { html, type SafeHtml } from '../html.js';

export function statusBadge(status: RunStatus, id?: string): SafeHtml {
  return html`<span class="st ${status}"${id ? html` id="${id}"` : ''}>${status.replace('_', ' ')}</span>`;
}

/** A time as people read it on a page: relative (`5 min ago`, `in 20 min`), the absolute UTC time as its tooltip. */
export function when(iso: string | undefined, now = Date.now()): SafeHtml {
  return iso ? html`<time datetime="${iso}" title="${humanTime(iso)}">${relativeTime(iso, now)}</time>` : html``;
}

/** How long it ran (so far, while running); empty before it starts. */
export function runDuration(run: { startedAt?: string; finishedAt?: string }, now = Date.now()): string {
  if (!run.startedAt) return '';
  const end = run.finishedAt ? Date.parse(run.finishedAt) : now;
  return humanDuration(end - Date.parse(run.startedAt));
}

export function buildDuration(b: Build): string {
  const ran = runDuration(b);
  if (!ran) return '';
  return b.finishedAt ? ran : `${ran} so far`;
}

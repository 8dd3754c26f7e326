import type { Build } from '../../../domain/build.js';
import { humanDuration, humanTime } from '../../../domain/human-time.js';
import type { RunStatus } from '../../../domain/status.js';
import { html, type SafeHtml } from '../html.js';

export function statusBadge(status: RunStatus, id?: string): SafeHtml {
  return html`<span class="st ${status}"${id ? html` id="${id}"` : ''}>${status.replace('_', ' ')}</span>`;
}

export function when(iso: string | undefined): SafeHtml {
  return iso ? html`<time datetime="${iso}">${humanTime(iso)}</time>` : html``;
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

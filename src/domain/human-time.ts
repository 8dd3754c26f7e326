const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * A moment for people in chat text: `6 Dec 09:05 UTC`. The same for every reader and every
 * moment it is rendered (no "today"), so a message edited later does not change by itself.
 * An unparsable input comes back as it is.
 */
export function humanTime(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const hh = String(d.getUTCHours()).padStart(2, '0');
  const mm = String(d.getUTCMinutes()).padStart(2, '0');
  return `${d.getUTCDate()} ${months[d.getUTCMonth()]} ${hh}:${mm} UTC`;
}

/** A duration for people: `850ms`, `12s`, `3m 05s`, `1h 02m`. */
export function humanDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** How long something ran, from its start and end times; empty when it has not both. */
export function ranFor(run: { startedAt?: string; finishedAt?: string }): string {
  if (!run.startedAt || !run.finishedAt) return '';
  return humanDuration(Date.parse(run.finishedAt) - Date.parse(run.startedAt));
}

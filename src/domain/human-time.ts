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

/**
 * A time relative to `now` for pages people glance at: `just now`, `12s ago`, `5 min ago`,
 * `3 h ago`, `in 20 min` (a deadline); past a day (or before one) it is the absolute
 * `humanTime`. Pair it with the absolute time as a tooltip (`title`).
 */
export function relativeTime(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '';
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  const diff = at - now;
  const abs = Math.abs(diff);
  const say = (n: number, unit: string): string => (diff > 0 ? `in ${n}${unit}` : `${n}${unit} ago`);
  if (abs < 5_000) return 'just now';
  if (abs < 60_000) return say(Math.floor(abs / 1000), 's');
  if (abs < 3_600_000) return say(Math.floor(abs / 60_000), ' min');
  if (abs < 86_400_000) return say(Math.floor(abs / 3_600_000), ' h');
  return humanTime(iso);
}

import { table } from './stats.js';

/**
 * One target of issue 20 against what this run measured. `value` is compared with `bar` as
 * `cmp` says: for a relative target (`reference` set) `value` is the measured figure and the
 * ratio value / reference is held against the bar (e.g. ≤ 0.35× floor B); for an absolute one
 * the figure itself is (e.g. ≤ 0.03 CPU-s), and the ratio column shows figure / bar.
 */
export interface Target {
  name: string;
  /** The measured figure, in `unit`; NaN when it could not be measured. */
  value: number;
  unit: string;
  /** The comparison: `le` (at most) or `ge` (at least). */
  cmp: 'le' | 'ge';
  bar: number;
  /** For a relative target: what the figure is divided by, and its name (`floor B`). */
  reference?: { value: number; name: string };
  /** The measured cause, printed when the target is missed. */
  cause?: string;
  /** Set when the target could not be measured in this build (e.g. no warm pool): printed instead of a verdict. */
  unavailable?: string;
}

export type Verdict = 'PASS' | 'MISS' | 'not available';

/** The number held against the bar: value / reference for a relative target, else the value. */
export function compared(t: Target): number {
  return t.reference ? t.value / t.reference.value : t.value;
}

export function verdict(t: Target): Verdict {
  if (t.unavailable !== undefined) return 'not available';
  const x = compared(t);
  if (!Number.isFinite(x)) return 'MISS';
  return (t.cmp === 'le' ? x <= t.bar : x >= t.bar) ? 'PASS' : 'MISS';
}

function figure(value: number, unit: string): string {
  if (!Number.isFinite(value)) return 'not measured';
  const digits = unit === 'ms' || unit === 'MiB' || unit === 'req/s' ? 0 : unit === 'CPU-s' ? 3 : 2;
  return `${value.toFixed(digits)} ${unit}`;
}

function targetText(t: Target): string {
  const op = t.cmp === 'le' ? '≤' : '≥';
  if (!t.reference) return `${op} ${t.bar} ${t.unit}`;
  const ref = Number.isFinite(t.reference.value) ? ` (${figure(t.reference.value, t.unit)})` : '';
  return `${op} ${t.bar}× ${t.reference.name}${ref}`;
}

function ratioText(t: Target): string {
  if (t.unavailable !== undefined) return '';
  const x = t.reference ? compared(t) : t.value / t.bar;
  return Number.isFinite(x) ? `${x.toFixed(2)}×` : '–';
}

/** The rows of the targets table: target, figure, bar, ratio, result, and the cause of a MISS (or why a row is not available). */
export function targetRows(targets: readonly Target[]): string[][] {
  const rows: string[][] = [['target', 'figure', 'bar', 'ratio', 'result', 'cause of a MISS / why not available']];
  for (const t of targets) {
    const v = verdict(t);
    if (v === 'not available') {
      rows.push([t.name, 'not available', targetText(t), '', '', t.unavailable ?? '']);
      continue;
    }
    rows.push([t.name, figure(t.value, t.unit), targetText(t), ratioText(t), v, v === 'MISS' ? (t.cause ?? 'not measured') : '']);
  }
  return rows;
}

export function targetsTable(targets: readonly Target[]): string {
  return table(targetRows(targets));
}

/** The segment that took most of the time, as a cause: `<name> <ms> of <total> ms`. */
export function largestSegment(segments: Record<string, number>, total: number): string {
  const entries = Object.entries(segments).filter(([, v]) => Number.isFinite(v));
  if (entries.length === 0) return 'no timings';
  const [name, value] = entries.reduce((a, b) => (b[1] > a[1] ? b : a));
  return `most of it: ${name} ${Math.round(value)} of ${Math.round(total)} ms (median)`;
}

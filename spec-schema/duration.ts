/**
 * Durations in bosun.yml: `30s`, `10m`, `4h`, `1h30m`, `2d`, or a whole number of seconds.
 * Shared by the schema (validation) and the compiler (conversion to seconds).
 */
export const DURATION_PATTERN = /^(?=\d)(?:(\d{1,7})d)?(?:(\d{1,7})h)?(?:(\d{1,7})m)?(?:(\d{1,7})s)?$/;

/** Longest duration a spec may ask for (the server clamps lower, R17). */
export const MAX_DURATION_SEC = 30 * 24 * 3600;

export const DURATION_MESSAGE = 'expected a duration like 30s, 10m, 4h or 1h30m';

/** Seconds for a valid duration, or undefined when the text is not one. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value > 0 ? value : undefined;
  const m = DURATION_PATTERN.exec(value);
  if (!m) return undefined;
  const [d, h, min, s] = [m[1], m[2], m[3], m[4]].map((x) => Number(x ?? 0)) as [number, number, number, number];
  const total = d * 86400 + h * 3600 + min * 60 + s;
  return total > 0 ? total : undefined;
}

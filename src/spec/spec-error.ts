import { UserError } from '../errors.js';

/** One problem in a build spec, pointing at the exact place in the file (1-based line and column). */
export interface SpecError {
  file: string;
  line: number;
  col: number;
  /** Where in the spec, e.g. `stages.test.steps[2].image`; empty for the whole file. */
  path: string;
  message: string;
}

/** `bosun.yml:14:9 stages.test.steps[2].image: expected a string` */
export function formatSpecError(e: SpecError): string {
  const where = `${e.file}:${e.line}:${e.col}`;
  return e.path ? `${where} ${e.path}: ${e.message}` : `${where} ${e.message}`;
}

/** Dots for keys, `[n]` for list indices: `stages.test.steps[2].image`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

/**
 * A spec that cannot be used; shown to the person who pushed it, never retried. The message
 * lists every error, one per line (a single error is just its line); `lines` are the same,
 * for sinks that show a count and the first (a commit status has 140 characters).
 */
export class SpecInvalidError extends UserError {
  readonly errors: SpecError[];
  readonly lines: string[];
  constructor(errors: SpecError[]) {
    const lines = errors.map(formatSpecError);
    super('spec_invalid', describeSpecErrors(lines));
    this.errors = errors;
    this.lines = lines;
  }
}

/** Every error, one per line, under a count when there are several. */
function describeSpecErrors(lines: readonly string[]): string {
  if (lines.length === 0) return 'the build spec is invalid';
  if (lines.length === 1) return lines[0]!;
  return [`${lines.length} problems in the build spec:`, ...lines].join('\n');
}

/**
 * For a sink limited to `max` characters: the count and the first error (`3 problems; first:
 * bosun.yml:4:5 …`), cut with `…` when still too long.
 */
export function summarizeSpecErrors(lines: readonly string[], max = 140): string {
  const text = lines.length <= 1 ? (lines[0] ?? 'the build spec is invalid') : `${lines.length} problems in the build spec; first: ${lines[0]}`;
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

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

/** A spec that cannot be used; shown to the person who pushed it, never retried. */
export class SpecInvalidError extends UserError {
  readonly errors: SpecError[];
  constructor(errors: SpecError[]) {
    super('spec_invalid', summarize(errors));
    this.errors = errors;
  }
}

function summarize(errors: SpecError[]): string {
  const [first] = errors;
  if (!first) return 'the build spec is invalid';
  const more = errors.length - 1;
  return more > 0 ? `${formatSpecError(first)} (and ${more} more)` : formatSpecError(first);
}

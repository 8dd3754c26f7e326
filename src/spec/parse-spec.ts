/**
 * bosun.yml text → a validated BuildSpec, or errors that name file, line and column.
 * Hardened per R26: the size is capped before parsing, one document only, duplicate keys are
 * errors, aliases are capped (billion laughs), and every exception (RangeError on deep nesting
 * included) becomes a clean error. Never throws.
 */
import { isScalar, LineCounter, parseDocument, visit, type Document, type YAMLError } from 'yaml';
import { BuildSpec } from '../../spec-schema/build-spec.js';
import { describeIssues } from './describe-issues.js';
import { locate } from './locate-node.js';
import { findDeepNesting, MAX_NESTING } from './measure-depth.js';
import { formatPath, type SpecError } from './spec-error.js';
import { ungrantedSecrets, type SecretGrants } from './secret-grants.js';
import { wideningProblems } from './network-narrowing.js';
import type { NetworkConfig } from '../executor/container/egress-policy.js';

export const MAX_SPEC_BYTES = 256 * 1024;
const MAX_ALIAS_COUNT = 50;
/**
 * Every problem is listed up to this many (a real file never has more); past it, one last line
 * says how many more there are, so a 256 KiB file of garbage cannot make a megabyte of errors.
 */
const MAX_ERRORS = 100;

export type ParseResult = { ok: true; spec: BuildSpec } | { ok: false; errors: SpecError[] };

export interface ParseOptions {
  /**
   * What server config grants the repository: a secret the spec asks for outside it is an error
   * with its line. Without it (no repository in sight: the examples, an editor) names are not checked.
   */
  secrets?: SecretGrants;
  /**
   * The server's egress policy (server config `network`): a `network:` that would widen it is an
   * error with its line. Without it, `network:` is checked for shape only.
   */
  network?: NetworkConfig;
}

export function parseSpec(text: string | Uint8Array, file = 'bosun.yml', options: ParseOptions = {}): ParseResult {
  try {
    return parseUnguarded(text, file, options);
  } catch (err) {
    return failure(file, `could not be read: ${describeThrown(err)}`);
  }
}

function parseUnguarded(input: string | Uint8Array, file: string, options: ParseOptions): ParseResult {
  const size = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.byteLength;
  if (size > MAX_SPEC_BYTES) {
    return failure(file, `is ${formatKiB(size)}; the limit is ${formatKiB(MAX_SPEC_BYTES)}`);
  }
  const text = decode(input);
  if (text === undefined) return failure(file, 'is not valid UTF-8 text');

  // Before composing: yaml recurses per level, and deep recursion can crash Node (see measure-depth.ts).
  const deep = findDeepNesting(text);
  if (deep) {
    return { ok: false, errors: [{ file, ...deep, path: '', message: `nesting is deeper than ${MAX_NESTING} levels; a build spec never needs that` }] };
  }

  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: true, merge: false });
  if (doc.errors.length > 0) return { ok: false, errors: yamlErrors(doc, text, file, lineCounter) };

  // A collection or alias as a key would be stringified by toJS (an alias bomb could hide there,
  // and yaml prints a process warning); a spec's keys are plain words.
  const complexKey = findComplexKey(doc);
  if (complexKey !== undefined) {
    return { ok: false, errors: [{ file, ...lineCounter.linePos(complexKey), path: '', message: 'keys must be plain words, not lists, maps or aliases' }] };
  }

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    const at = firstAlias(doc, lineCounter);
    return { ok: false, errors: [{ file, line: at.line, col: at.col, path: '', message: describeThrown(err) }] };
  }
  if (data === null || data === undefined) return failure(file, 'is empty; it needs at least `version: 1` and `stages:`');

  // zod silently drops an own `__proto__` key (yaml defines it as plain data); refuse it instead.
  const proto = findProtoKey(data, []);
  if (proto) {
    const pos = locate(doc, lineCounter, proto, 'key');
    return { ok: false, errors: [{ file, ...pos, path: formatPath(proto), message: '`__proto__` is not allowed as a key' }] };
  }

  const result = BuildSpec.safeParse(data);
  const ungranted = [
    ...(options.secrets ? located(ungrantedSecrets(data, options.secrets), doc, lineCounter, file) : []),
    ...(options.network ? located(wideningProblems(data, options.network), doc, lineCounter, file) : []),
  ];
  if (!result.success) return { ok: false, errors: finish([...schemaErrors(result.error.issues, data, doc, lineCounter, file), ...ungranted]) };
  if (ungranted.length === 0) return { ok: true, spec: result.data };
  return { ok: false, errors: finish(ungranted) };
}

function located(problems: ReturnType<typeof describeIssues>, doc: Document, lineCounter: LineCounter, file: string): SpecError[] {
  return problems.map((p) => ({ file, ...locate(doc, lineCounter, p.path, p.target), path: formatPath(p.path), message: p.message }));
}

/** Loading fails only on aliases (too many, or undefined), so the first alias is the place to look. */
function firstAlias(doc: Document, lineCounter: LineCounter): { line: number; col: number } {
  let offset = 0;
  visit(doc, {
    Alias(_key, node) {
      offset = node.range?.[0] ?? 0;
      return visit.BREAK;
    },
  });
  return lineCounter.linePos(offset);
}

/** Offset of the first key that is not a plain scalar, if any. */
function findComplexKey(doc: Document): number | undefined {
  let found: number | undefined;
  visit(doc, {
    Pair(_key, pair) {
      if (pair.key === null || isScalar(pair.key)) return undefined;
      found = (pair.key as { range?: [number, number, number] }).range?.[0] ?? 0;
      return visit.BREAK;
    },
  });
  return found;
}

/** Path of the first own `__proto__` key; depth is already bounded by the nesting check. */
function findProtoKey(value: unknown, path: PropertyKey[]): PropertyKey[] | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  if (!Array.isArray(value) && Object.hasOwn(value, '__proto__')) return [...path, '__proto__'];
  for (const [key, child] of Object.entries(value)) {
    const found = findProtoKey(child, [...path, Array.isArray(value) ? Number(key) : key]);
    if (found) return found;
  }
  return undefined;
}

function decode(input: string | Uint8Array): string | undefined {
  if (typeof input === 'string') return input;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(input);
  } catch {
    return undefined;
  }
}

function yamlErrors(doc: Document, text: string, file: string, lineCounter: LineCounter): SpecError[] {
  const out: SpecError[] = [];
  for (const err of doc.errors) {
    const pos = err.linePos?.[0] ?? { line: 1, col: 1 };
    let message = yamlMessage(err, text);
    if (err.code === 'DUPLICATE_KEY') {
      const first = firstDuplicate(doc, err.pos[0]);
      if (first !== undefined) message += ` (first at line ${lineCounter.linePos(first).line})`;
    }
    out.push({ file, line: pos.line, col: pos.col, path: '', message });
    // One "too deep" is enough: yaml reports it once per unwound level.
    if (err.code === 'RESOURCE_EXHAUSTION') break;
  }
  return finish(out);
}

function yamlMessage(err: YAMLError, text: string): string {
  switch (err.code) {
    case 'DUPLICATE_KEY':
      return `duplicate key \`${keyAt(text, err.pos[0])}\``;
    case 'MULTIPLE_DOCS':
      return 'only one YAML document is allowed; a second one starts here';
    case 'RESOURCE_EXHAUSTION':
      return 'nesting is too deep to be a build spec';
    default: {
      // yaml appends " at line L, column C:" and a source excerpt; we report the position ourselves.
      const message = (err.message.split(/ at line \d+, column \d+/)[0] ?? err.message).trim();
      // The classic: `run: [pip install .[test]]` — brackets inside an unquoted flow item.
      return /flow (sequence|map)/i.test(message) ? `${message} (quote items that contain [ ] { } , or :)` : message;
    }
  }
}

/** Offset of the earlier key that the key at `offset` duplicates, if it can be found. */
function firstDuplicate(doc: Document, offset: number): number | undefined {
  let found: number | undefined;
  visit(doc, {
    Map(_key, map) {
      const keys = map.items.map((p) => (isScalar(p.key) ? { text: String(p.key.value), start: p.key.range?.[0] } : undefined));
      const dup = keys.find((k) => k?.start === offset);
      if (!dup) return undefined;
      found = keys.find((k) => k?.text === dup.text && k.start !== undefined && k.start < offset)?.start;
      return visit.BREAK;
    },
  });
  return found;
}

function keyAt(text: string, offset: number): string {
  const rest = text.slice(offset, offset + 80);
  const key = /^(["']?)(.*?)\1\s*:/.exec(rest)?.[2] ?? rest.split(/[\n:]/)[0] ?? '';
  return key.trim();
}

function schemaErrors(issues: Parameters<typeof describeIssues>[0], data: unknown, doc: Document, lineCounter: LineCounter, file: string): SpecError[] {
  return finish(located(describeIssues(issues, data), doc, lineCounter, file));
}

/** In file order, without repeats; past MAX_ERRORS, a last line counts the rest. */
function finish(errors: SpecError[]): SpecError[] {
  const seen = new Set<string>();
  const unique = errors.filter((e) => {
    const key = `${e.line}:${e.col}:${e.path}:${e.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  unique.sort((a, b) => a.line - b.line || a.col - b.col);
  if (unique.length <= MAX_ERRORS) return unique;
  const last = unique[MAX_ERRORS - 1]!;
  return [
    ...unique.slice(0, MAX_ERRORS),
    { file: last.file, line: last.line, col: last.col, path: '', message: `${unique.length - MAX_ERRORS} more problems are not listed; fix these first` },
  ];
}

function failure(file: string, message: string): ParseResult {
  return { ok: false, errors: [{ file, line: 1, col: 1, path: '', message: `${file} ${message}` }] };
}

function describeThrown(err: unknown): string {
  if (err instanceof RangeError) return 'nesting is too deep';
  if (err instanceof ReferenceError && /excessive alias count/i.test(err.message)) {
    return `aliases expand too much (more than ${MAX_ALIAS_COUNT} alias uses); refusing a possible YAML bomb`;
  }
  return err instanceof Error ? err.message : String(err);
}

function formatKiB(bytes: number): string {
  return `${Math.ceil(bytes / 1024)} KiB`;
}

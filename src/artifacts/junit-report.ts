import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { FailedTest, TestSummary } from '../domain/test-report.js';

/** The most failing cases a summary lists (the counts stay complete). */
export const maxListedFailures = 50;
const maxMessageChars = 300;

/** One report file's counts, or why it was not read. */
export type ReportResult = { ok: true; summary: TestSummary } | { ok: false; problem: string };

/**
 * Reads one JUnit XML file (pytest `--junitxml`, unittest-xml-reporting, jest-junit,
 * go-junit-report): every `<testcase>` under `<testsuites>`/`<testsuite>` (nested suites too)
 * counts once; a case with `<failure>` is failed, with `<error>` an error, with `<skipped>`
 * skipped. Parsed by fast-xml-parser with entity processing off; a file with a DOCTYPE or
 * entity declaration is refused outright (no billion laughs, no external entities), and a
 * malformed one is refused with the parser's message. Never throws.
 */
export function parseJunit(path: string, xml: string): ReportResult {
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) return { ok: false, problem: `${path}: refused: DOCTYPE or entity declarations are not accepted in test reports` };
  const valid = XMLValidator.validate(xml);
  if (valid !== true) return { ok: false, problem: `${path}: not well-formed XML (line ${valid.err.line}: ${valid.err.msg})` };
  let doc: unknown;
  try {
    doc = new XMLParser({
      ignoreAttributes: false,
      attributeNamePrefix: '',
      processEntities: false,
      htmlEntities: false,
      ignoreDeclaration: true,
      ignorePiTags: true,
      parseTagValue: false,
      parseAttributeValue: false,
      isArray: (name) => name === 'testsuite' || name === 'testcase' || name === 'failure' || name === 'error',
    }).parse(xml);
  } catch (err) {
    return { ok: false, problem: `${path}: not readable XML (${err instanceof Error ? err.message : String(err)})` };
  }
  const root = doc as Record<string, unknown>;
  const top = (root.testsuites ?? (root.testsuite ? { testsuite: root.testsuite } : undefined)) as Node | undefined;
  if (!top || typeof top !== 'object') return { ok: false, problem: `${path}: not a JUnit report (no <testsuites> or <testsuite>)` };
  const summary: TestSummary = { total: 0, failed: 0, errors: 0, skipped: 0, failures: [], files: [path] };
  walk(top, summary, 0);
  return { ok: true, summary };
}

type Node = Record<string, unknown>;

function walk(node: Node, summary: TestSummary, depth: number): void {
  if (depth > 50) return;
  for (const testcase of asArray(node.testcase)) addCase(testcase as Node, summary);
  for (const suite of asArray(node.testsuite)) if (suite && typeof suite === 'object') walk(suite as Node, summary, depth + 1);
}

function addCase(tc: Node, summary: TestSummary): void {
  if (!tc || typeof tc !== 'object') return;
  summary.total += 1;
  const failure = asArray(tc.failure)[0];
  const error = asArray(tc.error)[0];
  if (failure === undefined && error === undefined) {
    if (tc.skipped !== undefined) summary.skipped += 1;
    return;
  }
  if (failure !== undefined) summary.failed += 1;
  else summary.errors += 1;
  if (summary.failures.length >= maxListedFailures) return;
  const name = text(tc.name) ?? '(unnamed)';
  const classname = text(tc.classname);
  const entry: FailedTest = { name: classname ? `${classname}.${name}` : name };
  const message = messageOf(failure ?? error);
  if (message) entry.message = message;
  const file = text(tc.file);
  if (file) entry.file = file;
  const line = Number(text(tc.line));
  if (Number.isInteger(line) && line > 0) entry.line = line;
  summary.failures.push(entry);
}

function messageOf(node: unknown): string | undefined {
  const raw = typeof node === 'object' && node !== null ? (text((node as Node).message) ?? text((node as Node)['#text'])) : text(node);
  const first = raw
    ?.split('\n')
    .find((l) => l.trim() !== '')
    ?.trim();
  if (!first) return undefined;
  return first.length > maxMessageChars ? `${first.slice(0, maxMessageChars - 1)}…` : first;
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return decodeEntities(value);
  if (typeof value === 'number') return String(value);
  return undefined;
}

const predefined: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** XML's five predefined entities and character references (`&#233;`, `&#xE9;`); anything else stays as written. */
function decodeEntities(value: string): string {
  return value.replace(/&(lt|gt|amp|quot|apos|#[0-9]{1,7}|#x[0-9A-Fa-f]{1,6});/g, (whole, name: string) => {
    if (name.startsWith('#')) {
      const code = name[1] === 'x' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return predefined[name] ?? whole;
  });
}

function asArray(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

/** Sums summaries (files in order; at most `maxListedFailures` failures listed). */
export function mergeSummaries(a: TestSummary | undefined, b: TestSummary): TestSummary {
  if (!a) return b;
  const problems = [...(a.problems ?? []), ...(b.problems ?? [])];
  return {
    total: a.total + b.total,
    failed: a.failed + b.failed,
    errors: a.errors + b.errors,
    skipped: a.skipped + b.skipped,
    failures: [...a.failures, ...b.failures].slice(0, maxListedFailures),
    files: [...a.files, ...b.files],
    ...(problems.length ? { problems } : {}),
  };
}

/** `2 of 431 failed — test_login, test_refund` (or `431 passed`), for status lines. */
export function describeTests(t: TestSummary, names = 3): string {
  const bad = t.failed + t.errors;
  if (t.total === 0 && t.problems?.length) return `no report read (${t.problems.length} problem${t.problems.length > 1 ? 's' : ''})`;
  if (bad === 0) return `${t.total - t.skipped} passed${t.skipped ? `, ${t.skipped} skipped` : ''}`;
  const listed = t.failures.slice(0, names).map((f) => f.name);
  const more = bad - listed.length;
  return `${bad} of ${t.total} failed — ${listed.join(', ')}${more > 0 ? ` and ${more} more` : ''}`;
}

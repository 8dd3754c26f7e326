import type { StageRun, StepRun } from '../domain/build.js';
import { stepEnding } from '../domain/step-ending.js';
import type { TestSummary } from '../domain/test-report.js';

/** A check run annotation as the Checks API takes it. */
export interface Annotation {
  path: string;
  start_line: number;
  end_line: number;
  start_column?: number;
  end_column?: number;
  annotation_level: 'notice' | 'warning' | 'failure';
  message: string;
  title?: string;
}

/** The Checks API takes at most 50 annotations per request; more go in further updates. */
export const annotationsPerRequest = 50;
/** At most this many annotations per check run (three requests). */
export const maxAnnotations = 150;
/** The identifier of the "Re-run failed" button (`requested_action`); GitHub allows 20 characters. */
export const rerunFailedAction = 'rerun-failed';
export const rerunFailedButton = { label: 'Re-run failed', description: 'Run the failed steps again', identifier: rerunFailedAction } as const;

/** Where the repository is checked out inside step containers. */
const workspaceRoot = '/workspace/';
const maxMessage = 1000;
const maxSummary = 60_000;

// eslint-disable-next-line no-control-regex
const ansi = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;
/** Python: `  File "app/x.py", line 12, in f`. */
const pythonFrame = /^\s*File "([^"]+)", line (\d+)/;
/** tsc: `src/a.ts(3,5): error TS2322: …`. */
const tscLine = /^\s*([^\s()'"]+\.[A-Za-z0-9]+)\((\d+),(\d+)\): (error|warning) (TS\d+: .*)$/;
/** The shell's echo of a command (`+ cmd`, `$ cmd`) is not output. */
const commandEcho = /^[+$] /;
/** go vet, gcc, eslint-unix, pytest: `./a.go:3:5: …`, `tests/t.py:12: AssertionError`. */
const fileLineCol = /^\s*(?:vet: )?((?:\.{1,2}\/)?[\w@+\-./]+\.[A-Za-z0-9]+):(\d+)(?::(\d+))?:\s*(.*)$/;

/**
 * A path as the repository knows it, or undefined when it is outside the repository: `./`
 * dropped, `/workspace/` (the checkout inside step containers) made relative, other absolute
 * paths, `..` and installed packages refused.
 */
export function repoPath(raw: string): string | undefined {
  let p = raw.trim().replace(/^(\.\/)+/, '');
  if (p.startsWith(workspaceRoot)) p = p.slice(workspaceRoot.length);
  if (p.startsWith('/') || p.length === 0 || p.length > 500) return undefined;
  const parts = p.split('/');
  if (parts.some((s) => s === '..' || s === '' || s === 'node_modules' || s === 'site-packages' || s === 'dist-packages')) return undefined;
  return p;
}

/**
 * Annotations from `file:line` references in step output: Python tracebacks (the innermost
 * frame inside the repository, with the exception line as message), `tsc`
 * (`file(line,col): error TS…`) and the `file:line[:col]: message` form of go vet, gcc and
 * pytest. One per place and message, at most `maxAnnotations`.
 */
export function annotationsFromOutput(lines: readonly string[]): Annotation[] {
  const out: Annotation[] = [];
  const seen = new Set<string>();
  const add = (a: Annotation) => {
    const key = `${a.path}:${a.start_line}:${a.message}`;
    if (seen.has(key) || out.length >= maxAnnotations) return;
    seen.add(key);
    out.push({ ...a, message: a.message.slice(0, maxMessage) || 'error' });
  };
  let frame: { path: string; line: number } | undefined;
  let inTraceback = false;
  for (const rawLine of lines) {
    const line = rawLine.replace(ansi, '').replace(/\r$/, '');
    if (commandEcho.test(line)) continue;
    if (/^Traceback \(most recent call last\):/.test(line)) {
      inTraceback = true;
      frame = undefined;
      continue;
    }
    const py = pythonFrame.exec(line);
    if (py) {
      const path = repoPath(py[1]!);
      if (path) frame = { path, line: Number(py[2]) };
      continue;
    }
    if (inTraceback) {
      if (/^\s/.test(line) || line.length === 0) continue;
      // The exception line ends the traceback.
      if (frame)
        add({ path: frame.path, start_line: frame.line, end_line: frame.line, annotation_level: 'failure', title: 'Python exception', message: line.trim() });
      inTraceback = false;
      frame = undefined;
      continue;
    }
    const ts = tscLine.exec(line);
    if (ts) {
      const path = repoPath(ts[1]!);
      if (!path) continue;
      const l = Number(ts[2]);
      add({
        path,
        start_line: l,
        end_line: l,
        start_column: Number(ts[3]),
        end_column: Number(ts[3]),
        annotation_level: ts[4] === 'warning' ? 'warning' : 'failure',
        message: ts[5]!,
      });
      continue;
    }
    const fl = fileLineCol.exec(line);
    if (fl) {
      const path = repoPath(fl[1]!);
      const l = Number(fl[2]);
      if (!path || l < 1) continue;
      const col = fl[3] ? Number(fl[3]) : undefined;
      const message = fl[4]!.trim();
      const level = /^warning\b/i.test(message) ? 'warning' : 'failure';
      add({ path, start_line: l, end_line: l, ...(col ? { start_column: col, end_column: col } : {}), annotation_level: level, message });
    }
  }
  if (inTraceback && frame)
    add({ path: frame.path, start_line: frame.line, end_line: frame.line, annotation_level: 'failure', title: 'Python exception', message: 'Traceback' });
  return out;
}

/** Annotations for failing tests whose report names a file and line. */
export function annotationsFromTests(tests: TestSummary | undefined): Annotation[] {
  const out: Annotation[] = [];
  for (const t of tests?.failures ?? []) {
    const path = t.file ? repoPath(t.file) : undefined;
    if (!path || !t.line || t.line < 1) continue;
    out.push({
      path,
      start_line: t.line,
      end_line: t.line,
      annotation_level: 'failure',
      title: `Test failed: ${t.name}`.slice(0, 255),
      message: (t.message ?? 'failed').slice(0, maxMessage),
    });
  }
  return out;
}

/** Annotations of one check run, tests first, without duplicates, capped. */
export function mergeAnnotations(...lists: Annotation[][]): Annotation[] {
  const seen = new Set<string>();
  const out: Annotation[] = [];
  for (const a of lists.flat()) {
    const key = `${a.path}:${a.start_line}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(a);
    if (out.length >= maxAnnotations) break;
  }
  return out;
}

/** Splits annotations into the batches GitHub accepts per request. */
export function annotationBatches(annotations: readonly Annotation[]): Annotation[][] {
  const out: Annotation[][] = [];
  for (let i = 0; i < annotations.length; i += annotationsPerRequest) out.push(annotations.slice(i, i + annotationsPerRequest));
  return out;
}

const fence = (text: string) => `\`\`\`\n${text.replaceAll('```', "'''")}\n\`\`\``;
const inline = (text: string) => text.replaceAll('`', "'").replace(/\s+/g, ' ');

/** The test totals and failing tests of a stage, as Markdown. */
export function renderTests(tests: TestSummary): string {
  const bad = tests.failed + tests.errors;
  const head = `**Tests:** ${tests.total} run, ${tests.failed} failed${tests.errors ? `, ${tests.errors} errors` : ''}${tests.skipped ? `, ${tests.skipped} skipped` : ''}.`;
  if (bad === 0 || tests.failures.length === 0) return head;
  const rows = tests.failures.map((f) => {
    const where = f.file ? ` (${inline(f.file)}${f.line ? `:${f.line}` : ''})` : '';
    return `- \`${inline(f.name)}\`${where}${f.message ? `: ${inline(f.message).slice(0, 300)}` : ''}`;
  });
  const more = bad > tests.failures.length ? `\n- … and ${bad - tests.failures.length} more` : '';
  return `${head}\n\n### Failing tests\n${rows.join('\n')}${more}`;
}

/**
 * The check run summary of a finished stage: which step failed and why, the failing tests
 * (from the stage's JUnit reports, when it has any), and the failing step's last lines.
 */
export function stageSummary(stage: StageRun, failedStep: StepRun | undefined, tail: readonly string[], describe: string): string {
  const parts: string[] = [];
  if (failedStep) {
    const ending = stepEnding(failedStep);
    parts.push(`Step \`${failedStep.name}\` failed${ending ? ` (${ending})` : ''}.`);
  } else {
    parts.push(describe);
  }
  if (stage.tests) parts.push(renderTests(stage.tests));
  if (failedStep && tail.length > 0) parts.push(`### Last lines of \`${failedStep.name}\`\n${fence(tail.join('\n'))}`);
  const text = parts.join('\n\n');
  return text.length > maxSummary ? `${text.slice(0, maxSummary - 1)}…` : text;
}

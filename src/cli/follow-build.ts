import type { Build, StageRun, StepRun } from '../domain/build.js';
import { isTerminal, type RunStatus } from '../domain/status.js';
import { stepEnding } from '../domain/step-ending.js';

/** What following a build needs from the API (ApiClient, or a fake). */
export interface FollowApi {
  build(id: string): Promise<Build>;
  followLog(id: string, stage: string, step: string, onLine: (text: string) => void): Promise<void>;
}

export interface FollowOptions {
  write(text: string): void;
  /** ANSI colours (a TTY without NO_COLOR). */
  color: boolean;
  pollMs?: number;
  /** How many of the failing step's last lines the summary repeats. */
  tailLines?: number;
}

/** The process exit code for a build's result: 0 success, 1 failed, 2 failed_infra, 3 cancelled. */
function exitCodeOf(status: RunStatus): number {
  if (status === 'success') return 0;
  if (status === 'failed_infra') return 2;
  if (status === 'cancelled') return 3;
  return 1;
}

const icons: Partial<Record<RunStatus, string>> = { success: '✔', failed: '✘', failed_infra: '⚠', cancelled: '■', skipped: '–', waiting: '⏸' };
const colours: Partial<Record<RunStatus, string>> = { success: '32', failed: '31', failed_infra: '33', cancelled: '33', skipped: '2', waiting: '36' };

/**
 * `bosun build --follow` / `bosun watch`: each step's log as it runs, framed by a start line
 * and an end line with its result and duration; at the end, which step failed and why (exit
 * code, timeout, out of memory, lost node) with its last lines. Returns the exit code.
 */
export async function followBuild(api: FollowApi, id: string, opts: FollowOptions): Promise<number> {
  const paint = (code: string | undefined, text: string) => (opts.color && code ? `\x1b[${code}m${text}\x1b[0m` : text);
  const say = (line: string) => opts.write(`${line}\n`);
  const followed = new Set<string>();
  const ended = new Set<string>();
  const noticed = new Set<string>();
  const tails = new Map<string, string[]>();
  const keep = opts.tailLines ?? 10;
  const pollMs = opts.pollMs ?? 300;

  for (;;) {
    const build = await api.build(id);
    // Steps end before their build: once the build has ended, this pass sees every step's end.
    const finished = isTerminal(build.status);
    walk: for (const stage of build.stages) {
      noteStage(stage, build.id, noticed, say, paint);
      for (const step of stage.steps) {
        const key = `${stage.name}/${step.name}`;
        if (ended.has(key) || step.status === 'pending' || step.status === 'queued') continue;
        if (step.status === 'skipped' || (step.status === 'cancelled' && step.runs === 0)) {
          say(paint(colours.skipped, `${icons.skipped} ${key}: ${step.status}`));
          ended.add(key);
          continue;
        }
        if (!followed.has(key)) {
          say(paint('1', `--- ${key}`));
          const tail: string[] = [];
          tails.set(key, tail);
          await api.followLog(build.id, stage.name, step.name, (line) => {
            say(line);
            tail.push(line);
            if (tail.length > keep) tail.shift();
          });
          followed.add(key);
        }
        // The log ends a moment before the step's record does: look again before going on.
        const current = (await api.build(id)).stages.find((s) => s.name === stage.name)?.steps.find((s) => s.name === step.name) ?? step;
        if (!isTerminal(current.status)) break walk;
        say(paint(colours[current.status], endLine(key, current)));
        ended.add(key);
      }
    }
    if (finished) {
      const latest = await api.build(id);
      for (const line of summary(latest, tails)) say(paint(line.startsWith('===') ? colours[latest.status] : undefined, line));
      return exitCodeOf(latest.status);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** `✔ test/unit: success in 1.2s`, `✘ test/mem: failed, out of memory (limit 512 MiB), after 2.0s`. */
function endLine(key: string, step: StepRun): string {
  const icon = icons[step.status] ?? '•';
  const took = duration(step.startedAt, step.finishedAt);
  if (step.status === 'success') return `${icon} ${key}: success${took ? ` in ${took}` : ''}`;
  const why = whyStepEnded(step);
  return `${icon} ${key}: ${step.status}${why ? `, ${why}` : ''}${took ? `, after ${took}` : ''}`;
}

/** The step's ending for people, with the timeout it hit. */
function whyStepEnded(step: StepRun): string {
  const ending = stepEnding(step);
  if (step.reason === 'timeout') return `timed out (its timeout is ${formatSeconds(step.plan.timeoutSec)})`;
  return ending;
}

/** The closing lines: the result and time, and for a failure which step failed, why, and its last lines. */
export function summary(build: Build, tails: ReadonlyMap<string, readonly string[]>): string[] {
  const took = duration(build.createdAt, build.finishedAt);
  const head = `=== build #${build.id} ${build.status}${took ? `${build.status === 'success' ? ' in ' : ' after '}${took}` : ''}`;
  if (build.status === 'success') return [head];
  const failing = firstFailingStep(build);
  if (!failing) return [build.error ? `${head}: ${build.error.message}` : head];
  const key = `${failing.stage.name}/${failing.step.name}`;
  const why = whyStepEnded(failing.step);
  const lines = [`${head}: step ${key} ${failing.step.status}${why ? `: ${why}` : ''}`];
  const tail = tails.get(key) ?? [];
  if (tail.length) lines.push(`last lines of ${key}:`, ...tail.map((l) => `  ${l}`));
  return lines;
}

function firstFailingStep(build: Build): { stage: StageRun; step: StepRun } | undefined {
  for (const stage of build.stages) {
    for (const step of stage.steps) {
      if (step.status === 'failed' || step.status === 'failed_infra') return { stage, step };
    }
  }
  for (const stage of build.stages) {
    for (const step of stage.steps) if (step.status === 'cancelled' && step.runs > 0) return { stage, step };
  }
  return undefined;
}

/** Prints once what a stage is waiting for: an approval, or a worker that does not exist. */
function noteStage(stage: StageRun, id: string, noticed: Set<string>, say: (l: string) => void, paint: (c: string | undefined, t: string) => string): void {
  if (stage.status === 'waiting' && !noticed.has(`${stage.name}:waiting`)) {
    noticed.add(`${stage.name}:waiting`);
    say(
      paint(
        colours.waiting,
        `${icons.waiting} ${stage.name}: waiting for a decision — \`bosun pass ${id} ${stage.name}\` or \`bosun fail ${id} ${stage.name}\``,
      ),
    );
  }
  const notice = stage.notice;
  if (notice && stage.status === 'queued' && !noticed.has(`${stage.name}:notice`)) {
    noticed.add(`${stage.name}:notice`);
    say(paint(colours.failed_infra, `⚠ ${stage.name}: ${notice}`));
  }
}

function duration(from: string | undefined, to: string | undefined): string {
  if (!from || !to) return '';
  const ms = Date.parse(to) - Date.parse(from);
  return Number.isFinite(ms) && ms >= 0 ? formatDuration(ms) : '';
}

/** `0.8s`, `12s`, `2m05s`, `1h02m`. */
function formatDuration(ms: number): string {
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)}s`;
  return formatSeconds(Math.round(ms / 1000));
}

function formatSeconds(sec: number): string {
  if (sec < 60) return `${sec}s`;
  if (sec < 3600) return `${Math.floor(sec / 60)}m${String(sec % 60).padStart(2, '0')}s`;
  return `${Math.floor(sec / 3600)}h${String(Math.floor((sec % 3600) / 60)).padStart(2, '0')}m`;
}

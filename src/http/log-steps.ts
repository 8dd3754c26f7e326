import type { Build, StepRun } from '../domain/build.js';
import type { RunStatus } from '../domain/status.js';
import { serviceStepName } from '../executor/executor.js';

/** One log the web console shows: a step, or a stage service's pseudo-step `service:<name>`. */
export interface LogStep {
  stage: string;
  step: string;
  /** `stage/step`: the id in permalinks (`#test/unit:L120`) and in the page. */
  key: string;
  status: RunStatus;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  reason?: string;
}

/**
 * Every log of a build, in a fixed order (stage by stage: its services, then its steps). The
 * order is the index the live log stream's cursor uses, so it must only depend on the build's
 * plan (which a build keeps for its life; a retry bumps `attempt`).
 */
export function logSteps(build: Build): LogStep[] {
  const out: LogStep[] = [];
  for (const stage of build.stages) {
    for (const service of stage.services ?? []) {
      out.push({ stage: stage.name, step: serviceStepName(service.name), key: `${stage.name}/${serviceStepName(service.name)}`, status: stage.status });
    }
    for (const step of stage.steps) out.push(view(stage.name, step));
  }
  return out;
}

function view(stage: string, step: StepRun): LogStep {
  return {
    stage,
    step: step.name,
    key: `${stage}/${step.name}`,
    status: step.status,
    ...(step.startedAt ? { startedAt: step.startedAt } : {}),
    ...(step.finishedAt ? { finishedAt: step.finishedAt } : {}),
    ...(step.exitCode !== undefined ? { exitCode: step.exitCode } : {}),
    ...(step.reason ? { reason: step.reason } : {}),
  };
}

/** Parses a live-log cursor (`0:120,3:5`: step index → last line seen) for `count` steps. */
export function parseLogCursor(text: string | undefined, count: number): number[] {
  const after = new Array<number>(count).fill(0);
  for (const part of (text ?? '').split(',')) {
    const m = /^(\d{1,4}):(\d{1,10})$/.exec(part.trim());
    if (!m) continue;
    const i = Number(m[1]);
    if (i < count) after[i] = Number(m[2]);
  }
  return after;
}

/** The cursor for `after` (steps with no line seen are left out). */
export function formatLogCursor(after: readonly number[]): string {
  return after.flatMap((n, i) => (n > 0 ? [`${i}:${n}`] : [])).join(',') || '0:0';
}

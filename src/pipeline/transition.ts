import type { Build, StageRun, StepRun, BuildError } from '../domain/build.js';
import type { BuildEvent } from '../domain/build-event.js';
import { canTransition, isTerminal, type RunStatus } from '../domain/status.js';
import { InvalidTransitionError } from '../errors.js';

/**
 * The only functions that change a status. Each checks the transitions table, stamps
 * times, and returns the event that records the change. Setting the current status again
 * is a no-op (no event), which makes replays after a crash harmless.
 */
export function setBuildStatus(build: Build, to: RunStatus, now: string, error?: BuildError): BuildEvent[] {
  const from = build.status;
  if (from === to) return [];
  if (!canTransition(from, to)) throw new InvalidTransitionError(`build #${build.id}`, from, to);
  build.status = to;
  if (to === 'running' && !build.startedAt) build.startedAt = now;
  if (isTerminal(to)) build.finishedAt = now;
  else delete build.finishedAt;
  if (error) build.error = error;
  return [{ type: 'build.status', buildId: build.id, status: to, previous: from, ...(error ? { error } : {}) }];
}

export function setStageStatus(build: Build, stage: StageRun, to: RunStatus, now: string): BuildEvent[] {
  const from = stage.status;
  if (from === to) return [];
  if (!canTransition(from, to)) throw new InvalidTransitionError(`stage ${stage.name} of build #${build.id}`, from, to);
  stage.status = to;
  if (to === 'running' && !stage.startedAt) stage.startedAt = now;
  if (to === 'pending') {
    delete stage.startedAt;
    delete stage.finishedAt;
  }
  if (isTerminal(to)) stage.finishedAt = now;
  return [{ type: 'stage.status', buildId: build.id, stage: stage.name, status: to, previous: from }];
}

/** How a step ended, beyond its status. */
export interface StepEnd {
  exitCode?: number;
  reason?: string;
  detail?: string;
  node?: { id: string; hostname: string };
}

export function setStepStatus(build: Build, stage: StageRun, step: StepRun, to: RunStatus, now: string, extra: StepEnd = {}): BuildEvent[] {
  const from = step.status;
  if (from === to && extra.exitCode === undefined) return [];
  if (from !== to && !canTransition(from, to)) {
    throw new InvalidTransitionError(`step ${stage.name}/${step.name} of build #${build.id}`, from, to);
  }
  step.status = to;
  if (to === 'running') {
    step.startedAt = now;
    delete step.finishedAt;
    delete step.exitCode;
    delete step.reason;
    delete step.detail;
    delete step.node;
  }
  if (to === 'pending') {
    delete step.startedAt;
    delete step.finishedAt;
    delete step.exitCode;
    delete step.reason;
    delete step.detail;
    delete step.node;
  }
  if (isTerminal(to)) step.finishedAt = now;
  if (extra.exitCode !== undefined) step.exitCode = extra.exitCode;
  if (extra.reason !== undefined) step.reason = extra.reason;
  if (extra.detail !== undefined) step.detail = extra.detail;
  if (extra.node !== undefined) step.node = extra.node;
  return [
    {
      type: 'step.status',
      buildId: build.id,
      stage: stage.name,
      step: step.name,
      status: to,
      previous: from,
      ...(extra.exitCode !== undefined ? { exitCode: extra.exitCode } : {}),
      ...(extra.reason !== undefined ? { reason: extra.reason } : {}),
      ...(extra.detail !== undefined ? { detail: extra.detail } : {}),
    },
  ];
}

export function nowIso(): string {
  return new Date().toISOString();
}

import type { Build, StageRun, StepRun } from '../domain/build.js';
import type { BuildEvent } from '../domain/build-event.js';
import { findStage, findStep } from '../domain/build.js';
import { isTerminal } from '../domain/status.js';
import { randomUUID } from 'node:crypto';
import { CodedError, StageBusyError } from '../errors.js';
import type { WorkerDeps } from './pipeline-deps.js';
import { setBuildStatus, setStageStatus, setStepStatus, nowIso } from './transition.js';
import { ensureWorkspace } from './workspace.js';
import { StageServices, failStepOnService, failStepWith } from './stage-services.js';
import { runStep, type RunStepInput, type StepResult } from './run-step.js';
import { stepOutputs } from './step-outputs.js';
import { bringNeeds } from './bring-needs.js';
import { resumeStep } from './resume-step.js';
import { reachCheckpoint } from './reach-checkpoint.js';
import { acquireStageResources, waitingOnResources, type HeldResources } from '../leases/stage-leases.js';
import { leaseForCheckpoint, releaseCheckpointLease } from '../leases/checkpoint-leases.js';
import { publishStage } from '../publish/publish-stage.js';
import { cacheHomePath, cacheSaveStep, restoreStageCache, saveStageCache, type StageCacheState } from './stage-cache.js';
import { stepLogWriter } from './run-step.js';
import { runDeployStage } from './deploy-stage.js';

/**
 * Verb (on a worker): run one stage's steps in order. Safe under at-least-once delivery
 * (R20): steps that already succeeded are skipped, a step left `running` by a dead worker is
 * settled by what its executor says became of it (`resumeStep`: re-attached and its real result
 * recorded, or run again only when idempotent), and a job for a stage that is no longer
 * queued/running, or for an older attempt, does nothing.
 */
export async function runStage(deps: WorkerDeps, buildId: string, stageName: string, attempt: number): Promise<void> {
  const log = deps.log.child({ buildId, stage: stageName });
  const initial = await deps.store.require(buildId);
  const stage = findStage(initial, stageName);
  if (!stage || initial.attempt !== attempt) return;
  if (stage.status !== 'queued' && stage.status !== 'running' && !waitingOnResources(stage)) return;
  if (isTerminal(initial.status)) {
    await finishStage(deps, buildId, stageName, 'cancelled');
    return;
  }
  // One live worker per stage: a job redelivered while its first worker still runs (it lost
  // the queue lock, e.g. a stalled event loop) waits instead of running the steps again.
  const owner = randomUUID();
  if (deps.queue.claimStage && !(await deps.queue.claimStage(buildId, stageName, owner, claimTtlMs))) {
    throw new StageBusyError(buildId, stageName);
  }

  await deps.store.update(buildId, (b) => {
    const s = findStage(b, stageName);
    if (!s || (s.status !== 'queued' && s.status !== 'running' && !waitingOnResources(s))) return null;
    const now = nowIso();
    const events = setStageStatus(b, s, 'running', now);
    if (b.status === 'queued' || b.status === 'waiting') events.push(...setBuildStatus(b, 'running', now));
    return events;
  });

  let cancelled = false;
  let stopCurrent: (() => void) | null = null;
  const unwatch = deps.cancellations.watch(buildId, () => {
    cancelled = true;
    stopCurrent?.();
  });
  const heartbeat = startHeartbeat(deps, buildId, stageName, owner, log);
  let held: HeldResources | null = null;
  /** The stage's end is recorded (its sandboxes may then go after the build advanced). */
  let finished = false;
  let ending: Promise<void> | undefined;
  let services: StageServices | undefined;
  /** Starts the stage's services (once) or checks them; on a failure, fails `step` with their story. */
  const servicesReadyFor = async (step: string): Promise<'ready' | 'failed' | 'cancelled'> => {
    let failure;
    if (!services) {
      try {
        services = await StageServices.start(deps, initial, stage);
      } catch (err) {
        if (!(err instanceof CodedError) || err.retryable) throw err;
        await failStepWith(deps, buildId, stageName, step, [`bosun: the step did not run: ${err.message}`], err.message);
        return 'failed';
      }
      if (cancelled) return 'cancelled';
      const started = services;
      stopCurrent = () => void started.stop();
      failure = await started.ready();
      stopCurrent = null;
      if (cancelled) return 'cancelled';
    } else {
      failure = await services.check();
    }
    if (!failure) return 'ready';
    log.warn({ service: failure.service, state: failure.state, detail: failure.detail }, 'A service let the stage down');
    await services.stop();
    await failStepOnService(deps, buildId, stageName, step, failure, await services.tail(failure.service));
    return 'failed';
  };
  try {
    held = await acquireStageResources(deps, initial, stage, () => cancelled);
    const workspace = await ensureWorkspace(deps, initial);
    let inputsNote = stage.needs.length ? await bringNeeds(deps, await deps.store.require(buildId), stage, workspace) : undefined;
    let outcome: StageOutcome = 'success';
    // The cache is restored only into a stage none of whose steps has started yet.
    const cacheDeps = { config: deps.config, log, ...(deps.workspaceFiles ? { files: deps.workspaceFiles } : {}) };
    const cache: StageCacheState | undefined = stage.cache
      ? await restoreStageCache(
          cacheDeps,
          initial,
          stage,
          workspace,
          stage.steps.every((s) => s.runs === 0),
        )
      : undefined;
    let cacheNotes = cache?.notes ?? [];
    if (cache?.refused && stage.steps[0]) {
      await failStepWith(deps, buildId, stageName, stage.steps[0].name, cache.notes, cache.refused, 'cache_refused');
      outcome = 'failed';
    }
    const stageEnv = cache?.home ? { ...held.env, HOME: cacheHomePath(deps.executor.name, workspace) } : held.env;
    for (const planned of outcome === 'success' ? stage.steps : []) {
      // One read per step says both what the step is at and whether the build was cancelled.
      const latest = await deps.store.require(buildId);
      const current = findStep(latest, stageName, planned.name);
      if (!current || current.status === 'success') continue;
      if (cancelled || latest.status === 'cancelled') {
        // A step a dead worker left running was cancelled meanwhile: remove what is left of it.
        if (current.status === 'running' && current.executorRef && current.executor === deps.executor.name) {
          await deps.executor.destroyRef(current.executorRef).catch((err: unknown) => log.warn({ err }, 'Could not destroy the earlier run'));
        }
        outcome = 'cancelled';
        break;
      }
      const collect = stepOutputs(deps, latest, stageName, planned.name, workspace);
      const input: RunStepInput = {
        build: latest,
        stage: stageName,
        step: planned.name,
        workspace,
        stageEnv,
        notes: cacheNotes,
        ...(collect ? { collect } : {}),
        onStarted: (stop) => {
          stopCurrent = stop;
          if (cancelled) stop();
        },
      };
      // A step left running by a worker that died is settled first, and run again only if safe.
      const resumed = current.status === 'running' ? await resumeStep(deps, input) : { runAgain: '' };
      // Services start before the first step that runs (a resumed stage recreates them) and
      // are checked again before each later one.
      if ('runAgain' in resumed && stage.services?.length) {
        const ok = await servicesReadyFor(planned.name);
        if (ok !== 'ready') {
          outcome = ok;
          break;
        }
      }
      const note = [inputsNote, 'runAgain' in resumed ? resumed.runAgain : undefined].filter(Boolean).join('\n');
      if ('runAgain' in resumed) inputsNote = undefined;
      const result: StepResult = 'runAgain' in resumed ? await runStep(deps, { ...input, ...(note ? { note } : {}) }) : resumed;
      cacheNotes = [];
      stopCurrent = null;
      if (result.status !== 'success') {
        outcome = result.status;
        break;
      }
    }
    await services?.stop();
    // The cache holds what the steps made, saved before publishing (which cannot change it).
    if (outcome === 'success' && cache) await saveCache(deps, buildId, stageName, cacheDeps, workspace, cache);
    // Deliverables are Bosun's act, once every step passed (docs/publish.md).
    if (outcome === 'success' && stage.publish?.length) {
      outcome = await publishStage(deps, buildId, stageName, workspace, {
        cancelled: () => cancelled,
        onStarted: (stop) => {
          stopCurrent = stop;
          if (cancelled) stop();
        },
      });
      stopCurrent = null;
    }
    // A deploy stage deploys this build's published image (docs/deploys.md).
    if (outcome === 'success' && stage.deploy) {
      outcome = await runDeployStage(deps, buildId, stageName, {
        cancelled: () => cancelled,
        onStarted: (stop) => {
          stopCurrent = stop;
          if (cancelled) stop();
        },
      });
      stopCurrent = null;
    }
    await finishStage(deps, buildId, stageName, outcome);
    finished = true;
  } catch (err) {
    if (!(err instanceof CodedError) || err.retryable) throw err;
    // A user error (a missing image, say) fails the stage; the build still moves on below.
    log.warn({ err }, 'Stage failed on a user error');
    await finishStage(deps, buildId, stageName, 'failed');
    finished = true;
  } finally {
    unwatch();
    clearInterval(heartbeat);
    await services?.stop();
    // What the executor kept for the stage's steps (a stage sandbox) goes with the stage: once
    // the stage's end is recorded, after the build has moved on (it takes a `docker rm -f`,
    // ~150 ms, off the build's critical path); a stage that will be tried again waits for it.
    ending = deps.executor.endStage?.(buildId, stageName).catch((err: unknown) => log.warn({ err }, 'Could not remove the stage sandbox'));
    if (!finished) await ending;
    await held?.release('stage ended');
    await deps.queue.releaseStage?.(buildId, stageName, owner).catch((err: unknown) => log.warn({ err }, 'Could not release the stage claim'));
  }
  try {
    await deps.queue.advance(buildId);
  } finally {
    await ending;
  }
}

type StageOutcome = 'success' | 'failed' | 'failed_infra' | 'cancelled';

/** Saves the stage's cache (when its key missed) and writes how it went to the `cache:save` log. */
async function saveCache(
  deps: WorkerDeps,
  buildId: string,
  stage: string,
  cacheDeps: Parameters<typeof saveStageCache>[0],
  workspace: string,
  state: StageCacheState,
): Promise<void> {
  const build = await deps.store.require(buildId);
  const run = findStage(build, stage);
  if (!run) return;
  const lines = await saveStageCache(cacheDeps, build, run, workspace, state);
  if (lines.length === 0) return;
  const writer = stepLogWriter(deps, buildId, stage, cacheSaveStep);
  for (const line of lines) writer.note(line);
  await writer.close();
  await deps.logs.finish(buildId, stage, cacheSaveStep);
}

/** Records the stage's end: the outcome, and the steps that will not run marked skipped/cancelled. */
export async function finishStage(
  deps: Pick<WorkerDeps, 'store' | 'config' | 'leases' | 'log'>,
  buildId: string,
  stageName: string,
  outcome: StageOutcome,
): Promise<void> {
  const checkpointLease = outcome === 'success' ? await leaseForCheckpoint(deps, buildId, stageName) : {};
  const { build } = await deps.store.update(buildId, (b) => {
    const s = findStage(b, stageName);
    if (!s || isTerminal(s.status) || s.status === 'waiting') return null;
    const now = nowIso();
    const events: BuildEvent[] = [];
    for (const st of s.steps) events.push(...closeStep(b, s, st, outcome, now));
    if (outcome === 'success' && s.checkpoint && !isTerminal(b.status)) {
      events.push(...setStageStatus(b, s, 'running', now), ...reachCheckpoint(deps.config, b, s, now, checkpointLease));
      return events;
    }
    events.push(...setStageStatus(b, s, outcome, now));
    return events;
  });
  if (checkpointLease.leaseId && findStage(build, stageName)?.checkpointState?.leaseId !== checkpointLease.leaseId) {
    await releaseCheckpointLease(deps, build, stageName, checkpointLease.leaseId);
  }
}

function closeStep(b: Build, s: StageRun, st: StepRun, outcome: StageOutcome, now: string): BuildEvent[] {
  if (st.status === 'pending') return setStepStatus(b, s, st, outcome === 'cancelled' ? 'cancelled' : 'skipped', now);
  if (st.status === 'running') return setStepStatus(b, s, st, outcome === 'success' ? 'failed_infra' : outcome, now);
  return [];
}

const heartbeatMs = 2000;
/** A claim outlives three missed heartbeats; then a dead worker's stage can be taken over. */
const claimTtlMs = 3 * heartbeatMs;

function startHeartbeat(deps: WorkerDeps, buildId: string, stage: string, owner: string, log: WorkerDeps['log']): NodeJS.Timeout {
  // Renewing the claim also records the heartbeat; a queue without claims only beats. Taking
  // the claim (just before) recorded the first one.
  const beat = () => {
    if (!deps.queue.claimStage) {
      void deps.queue.heartbeat?.(buildId, stage).catch(() => undefined);
      return;
    }
    void deps.queue.claimStage(buildId, stage, owner, claimTtlMs).then(
      (held) => held || log.warn('The stage claim was taken by another worker (this one stalled past its claim)'),
      () => undefined,
    );
  };
  if (!deps.queue.claimStage) beat();
  return setInterval(beat, heartbeatMs);
}

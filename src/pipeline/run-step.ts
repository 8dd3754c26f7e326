import { hostname } from 'node:os';
import type { Build } from '../domain/build.js';
import { findStage, findStep } from '../domain/build.js';
import type { StepOutcome, StepHandle, StepSpec } from '../executor/executor.js';
import type { PlanStep } from '../domain/plan.js';
import { labelKeys } from '../executor/executor.js';
import { CodedError } from '../errors.js';
import { StepLogWriter } from '../logs/step-log-writer.js';
import type { PipelineDeps, WorkerDeps } from './pipeline-deps.js';
import { setStepStatus, nowIso, type StepEnd } from './transition.js';
import { stepPlacement } from './step-placement.js';
import { auditDelivery, deliveryNotes, stepSecrets } from './step-secrets.js';
import { buildUrl } from '../domain/build-url.js';

export interface StepResult {
  status: 'success' | 'failed' | 'failed_infra' | 'cancelled';
}

export interface RunStepInput {
  /** The build as recently read (the step's `runs` says whether it has an earlier log to drop). */
  build: Build;
  stage: string;
  step: string;
  workspace: string;
  /** Env the stage adds to each of its steps (the resources it leased: `BOSUN_RESOURCE_*`). */
  stageEnv?: Record<string, string>;
  /** Called once the step is running, with a function that stops it (cancel). */
  onStarted(stop: () => void): void;
  /** A line of Bosun's own the step's (new) log starts with (why it runs again). */
  note?: string;
  /** More lines of Bosun's own for the top of the log (the stage's cache restore). */
  notes?: string[];
  /** After the step ended, before its log closes: collect what it left (artifacts, reports); lines for its log. */
  collect?: FollowedStep['collect'];
}

/**
 * Runs one step through the executor: marks it running, streams its redacted output into
 * the log store and the event stream, waits for the outcome, records it, and cleans up.
 */
export async function runStep(deps: WorkerDeps, input: RunStepInput): Promise<StepResult> {
  const { build, stage, step } = input;
  const planned = findStep(build, stage, step);
  const stagePlan = findStage(build, stage);
  if (!planned || !stagePlan) throw new Error(`step ${stage}/${step} is not in build #${build.id}`);
  const spec = stepSpecFor(deps, build, stage, planned.plan, input.workspace, input.stageEnv);
  // Secrets go on the spec handed to the executor only (never stored with the build).
  const delivery = stepSecrets(deps.config, deps.secrets, build, planned.plan);
  if (delivery.secrets.length > 0) spec.secrets = delivery.secrets;
  if (build.network) spec.network = build.network;

  // A step that never ran has no log yet; one that did starts a fresh log (before it is `running`,
  // so whoever follows the new run never reads the old one).
  if (planned.runs > 0) await deps.logs.reset(build.id, stage, step);
  // The record as of this write also says where the stage's earlier steps ran (placement).
  const { build: current } = await deps.store.update(build.id, (b) => {
    const s = findStage(b, stage);
    const st = findStep(b, stage, step);
    if (!s || !st) return null;
    st.runs += 1;
    st.executor = deps.executor.name;
    delete st.executorRef;
    return setStepStatus(b, s, st, 'running', nowIso());
  });
  const placement = stepPlacement(deps.config.swarm, current, stage);
  if (placement) spec.placement = placement;

  const writer = stepLogWriter(deps, build.id, stage, step);
  if (input.note) for (const line of input.note.split('\n')) writer.note(line);
  for (const note of input.notes ?? []) writer.note(note);

  // Once, before the step's own output: what its traffic may reach (a refused connection explained).
  const network = deps.executor.networkFor ? deps.executor.networkFor(build.network) : deps.executor.network;
  if (network) writer.note(`bosun: network ${network}`);
  for (const note of deliveryNotes(delivery)) writer.note(note);
  await auditDelivery(deps.audit, build, stage, step, delivery);

  let handle: StepHandle;
  try {
    handle = await deps.executor.start(spec);
  } catch (err) {
    if (err instanceof CodedError && !err.retryable) {
      writer.note(`bosun: step could not start: ${err.message}`);
      await writer.close();
      await deps.logs.finish(build.id, stage, step);
      await recordStep(deps, build.id, stage, step, 'failed', { exitCode: -1, reason: 'start_failed' });
      return { status: 'failed' };
    }
    throw err;
  }
  await deps.store.update(build.id, (b) => {
    const st = findStep(b, stage, step);
    if (!st || st.status !== 'running') return null;
    st.executorRef = handle.ref;
    return [];
  });
  if (handle.where) writer.note(handle.where);
  return followStep(deps, { buildId: build.id, stage, step, onStarted: input.onStarted, ...(input.collect ? { collect: input.collect } : {}) }, handle, writer);
}

/** The step a handle runs, for `followStep`. */
export interface FollowedStep {
  buildId: string;
  stage: string;
  step: string;
  /** Called at once with a function that stops the step (cancel). */
  onStarted(stop: () => void): void;
  /** Called once the step ended (with its status), before its log closes; returns lines for the log. Must not throw. */
  collect?(outcome: StepOutcome, status: StepResult['status']): Promise<string[]>;
}

/**
 * Follows a started (or re-attached) step to its end: its output into `writer`, then its
 * outcome recorded on the step (which must be `running`), and the step destroyed.
 */
export async function followStep(deps: PipelineDeps, at: FollowedStep, handle: StepHandle, writer: StepLogWriter, notes: string[] = []): Promise<StepResult> {
  const { buildId, stage, step } = at;
  const log = deps.log.child({ buildId, stage, step });
  const grace = deps.config.limits.killGraceSec * 1000;
  let stopRequested = false;
  at.onStarted(() => {
    stopRequested = true;
    void handle.stop(grace).catch((err: unknown) => log.warn({ err }, 'Stopping the step failed'));
  });

  let outcome: StepOutcome;
  try {
    const pump = (async () => {
      for await (const chunk of handle.output) writer.write(chunk);
    })();
    outcome = await handle.wait();
    await pump;
    for (const note of notes) writer.note(note);
    if (outcome.reason === 'node_lost') {
      writer.note(
        `bosun: ${outcome.detail ?? 'the node running this step was lost'}; the step failed for an infrastructure reason and was not run again (retry it with \`/ci retry ${buildId} --failed\`)`,
      );
    }
    if (outcome.reason === 'unschedulable') writer.note(`bosun: the step never started: ${outcome.detail ?? 'no node could take it'}`);
    if (outcome.reason === 'oom') {
      // The step's own output says only `Killed`: say what killed it, and the limit it hit.
      outcome = { ...outcome, detail: outcome.detail ?? `limit ${deps.config.limits.memoryMb} MiB` };
      writer.note(`bosun: the step ran out of memory (${outcome.detail}) and was killed`);
    }
    if (at.collect) for (const line of await at.collect(outcome, statusOf(outcome, stopRequested))) writer.note(line);
  } finally {
    await writer.close().catch((err: unknown) => log.warn({ err }, 'Writing the step log failed'));
    await deps.logs.finish(buildId, stage, step).catch((err: unknown) => log.warn({ err }, 'Archiving the step log failed'));
    await handle.destroy().catch((err: unknown) => log.warn({ err }, 'Destroying the step failed'));
  }

  const status = statusOf(outcome, stopRequested);
  await recordStep(deps, buildId, stage, step, status, {
    exitCode: outcome.exitCode,
    ...(outcome.reason ? { reason: outcome.reason } : {}),
    ...(outcome.detail ? { detail: outcome.detail } : {}),
    ...(outcome.node ? { node: outcome.node } : {}),
  });
  log.info({ exitCode: outcome.exitCode, reason: outcome.reason, status }, 'Step finished');
  return { status };
}

/** A writer of the step's log: redacted lines into the log store and the event stream. */
export function stepLogWriter(deps: Pick<WorkerDeps, 'logs' | 'bus' | 'secrets'>, buildId: string, stage: string, step: string): StepLogWriter {
  return new StepLogWriter(
    {
      append: async (firstLine, lines) => {
        await deps.logs.append(buildId, stage, step, firstLine, lines);
        await deps.bus.publish({ type: 'log.chunk', buildId, stage, step, lines, firstLine });
      },
    },
    deps.secrets,
  );
}

export function statusOf(outcome: StepOutcome, stopRequested = false): StepResult['status'] {
  if (outcome.reason === 'cancelled' || (stopRequested && outcome.exitCode !== 0)) return 'cancelled';
  if (outcome.reason === 'node_lost' || outcome.reason === 'unschedulable') return 'failed_infra';
  return outcome.exitCode === 0 && !outcome.reason ? 'success' : 'failed';
}

/** Records how a `running` step ended (nothing when it is no longer running). */
export async function recordStep(
  deps: Pick<WorkerDeps, 'store'>,
  buildId: string,
  stage: string,
  step: string,
  status: StepResult['status'],
  extra: StepEnd,
): Promise<void> {
  await deps.store.update(buildId, (b) => {
    const s = findStage(b, stage);
    const st = findStep(b, stage, step);
    if (!s || !st || st.status !== 'running') return null;
    return setStepStatus(b, s, st, status, nowIso(), extra);
  });
}

/** A step's timeout as it runs: the spec's, clamped by the server's maximum. */
export function timeoutSecOf(deps: Pick<WorkerDeps, 'config'>, plan: PlanStep): number {
  return Math.min(plan.timeoutSec, deps.config.limits.stepTimeoutMaxSec);
}

function stepSpecFor(deps: WorkerDeps, build: Build, stage: string, plan: PlanStep, workspace: string, stageEnv: Record<string, string> = {}): StepSpec {
  const { limits } = deps.config;
  const step = plan.name;
  return {
    buildId: build.id,
    stage,
    step,
    image: plan.image,
    commands: plan.commands,
    env: { ...plan.env, ...stageEnv, ...buildEnv(deps, build, stage, step) },
    workspace,
    workdir: plan.workdir,
    timeoutSec: timeoutSecOf(deps, plan),
    limits: { cpus: limits.cpus, memoryBytes: limits.memoryMb * 1024 * 1024, pids: limits.pids },
    ...(plan.fresh ? { fresh: true } : {}),
    labels: {
      [labelKeys.managed]: 'true',
      [labelKeys.instance]: deps.instanceId,
      [labelKeys.build]: build.id,
      [labelKeys.stage]: stage,
      [labelKeys.step]: step,
    },
  };
}

/** Variables every step sees, describing the build (never secrets). */
function buildEnv(deps: WorkerDeps, build: Build, stage: string, step: string): Record<string, string> {
  const env: Record<string, string> = {
    CI: 'true',
    BOSUN: 'true',
    BOSUN_BUILD_ID: build.id,
    BOSUN_REPO: build.repo,
    BOSUN_REF: build.ref,
    BOSUN_SHA: build.sha,
    BOSUN_STAGE: stage,
    BOSUN_STEP: step,
    BOSUN_EVENT: build.trigger.event,
    BOSUN_WORKER_ID: `${deps.instanceId}:${hostname()}:${process.pid}`,
    BOSUN_WORKER_LABELS: deps.config.workerLabels.join(','),
  };
  if (build.trigger.upstream) {
    env.BOSUN_UPSTREAM_REPO = build.trigger.upstream.repo;
    env.BOSUN_UPSTREAM_SHA = build.trigger.upstream.sha;
  }
  const url = buildUrl(deps.config.http.publicUrl, build.id);
  if (url) env.BOSUN_BUILD_URL = url;
  return env;
}

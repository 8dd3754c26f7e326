import { hostname } from 'node:os';
import type { Build } from '../domain/build.js';
import { findStage, findStep } from '../domain/build.js';
import type { StepOutcome, StepHandle, StepSpec } from '../executor/executor.js';
import type { PlanStep } from '../domain/plan.js';
import { labelKeys } from '../executor/executor.js';
import { CodedError } from '../errors.js';
import { StepLogWriter } from '../logs/step-log-writer.js';
import type { WorkerDeps } from './pipeline-deps.js';
import { setStepStatus, nowIso, type StepEnd } from './transition.js';
import { stepPlacement } from './step-placement.js';

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
}

/**
 * Runs one step through the executor: marks it running, streams its redacted output into
 * the log store and the event stream, waits for the outcome, records it, and cleans up.
 */
export async function runStep(deps: WorkerDeps, input: RunStepInput): Promise<StepResult> {
  const { build, stage, step } = input;
  const log = deps.log.child({ buildId: build.id, stage, step });
  const planned = findStep(build, stage, step);
  const stagePlan = findStage(build, stage);
  if (!planned || !stagePlan) throw new Error(`step ${stage}/${step} is not in build #${build.id}`);
  const spec = stepSpecFor(deps, build, stage, planned.plan, input.workspace, input.stageEnv);

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

  const writer = new StepLogWriter(
    {
      append: async (firstLine, lines) => {
        await deps.logs.append(build.id, stage, step, firstLine, lines);
        await deps.bus.publish({ type: 'log.chunk', buildId: build.id, stage, step, lines, firstLine });
      },
    },
    deps.secrets,
  );

  let handle: StepHandle;
  try {
    handle = await deps.executor.start(spec);
  } catch (err) {
    if (err instanceof CodedError && !err.retryable) {
      writer.note(`bosun: step could not start: ${err.message}`);
      await writer.close();
      await deps.logs.finish(build.id, stage, step);
      await record(deps, build.id, stage, step, 'failed', { exitCode: -1, reason: 'start_failed' });
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

  const grace = deps.config.limits.killGraceSec * 1000;
  let stopRequested = false;
  input.onStarted(() => {
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
    if (outcome.reason === 'node_lost') {
      writer.note(`bosun: ${outcome.detail ?? 'the node running this step was lost'}; the step failed for an infrastructure reason and was not run again (retry it with \`/ci retry ${build.id} --failed\`)`);
    }
    if (outcome.reason === 'unschedulable') writer.note(`bosun: the step never started: ${outcome.detail ?? 'no node could take it'}`);
    if (outcome.reason === 'oom') {
      // The step's own output says only `Killed`: say what killed it, and the limit it hit.
      outcome = { ...outcome, detail: outcome.detail ?? `limit ${deps.config.limits.memoryMb} MiB` };
      writer.note(`bosun: the step ran out of memory (${outcome.detail}) and was killed`);
    }
  } finally {
    await writer.close().catch((err: unknown) => log.warn({ err }, 'Writing the step log failed'));
    await deps.logs.finish(build.id, stage, step).catch((err: unknown) => log.warn({ err }, 'Archiving the step log failed'));
    await handle.destroy().catch((err: unknown) => log.warn({ err }, 'Destroying the step failed'));
  }

  const status = statusOf(outcome, stopRequested);
  await record(deps, build.id, stage, step, status, {
    exitCode: outcome.exitCode,
    ...(outcome.reason ? { reason: outcome.reason } : {}),
    ...(outcome.detail ? { detail: outcome.detail } : {}),
    ...(outcome.node ? { node: outcome.node } : {}),
  });
  log.info({ exitCode: outcome.exitCode, reason: outcome.reason, status }, 'Step finished');
  return { status };
}

function statusOf(outcome: StepOutcome, stopRequested: boolean): StepResult['status'] {
  if (outcome.reason === 'cancelled' || (stopRequested && outcome.exitCode !== 0)) return 'cancelled';
  if (outcome.reason === 'node_lost' || outcome.reason === 'unschedulable') return 'failed_infra';
  return outcome.exitCode === 0 && !outcome.reason ? 'success' : 'failed';
}

async function record(
  deps: WorkerDeps, buildId: string, stage: string, step: string,
  status: StepResult['status'], extra: StepEnd,
): Promise<void> {
  await deps.store.update(buildId, (b) => {
    const s = findStage(b, stage);
    const st = findStep(b, stage, step);
    if (!s || !st || st.status !== 'running') return null;
    return setStepStatus(b, s, st, status, nowIso(), extra);
  });
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
    timeoutSec: Math.min(plan.timeoutSec, limits.stepTimeoutMaxSec),
    limits: { cpus: limits.cpus, memoryBytes: limits.memoryMb * 1024 * 1024, pids: limits.pids },
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
  if (deps.config.http.publicUrl) env.BOSUN_BUILD_URL = `${deps.config.http.publicUrl}/builds/${build.id}`;
  return env;
}

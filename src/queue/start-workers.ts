import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Build } from '../domain/build.js';
import { inlineAdvance } from './inline-advance.js';
import { CodedError, StageBusyError } from '../errors.js';

/** How long a stage job held by another live worker waits before it looks again. */
const stageBusyDelayMs = 2000;
import { advanceBuild } from '../pipeline/advance-build.js';
import { runStage, finishStage } from '../pipeline/run-stage.js';
import { settleLostStage } from '../pipeline/settle-lost-stage.js';
import type { WorkerDeps } from '../pipeline/pipeline-deps.js';
import { removeWorkspace } from '../pipeline/workspace.js';
import { BackgroundCleanup } from './background-cleanup.js';
import { AdvanceJob, StageJob, advanceQueueName, stageQueueName } from './queues.js';

export interface WorkerOptions {
  /** Connection for BullMQ; must have `maxRetriesPerRequest: null`. */
  connection: Redis;
  prefix?: string;
  /** Run the advance (orchestration) worker in this process. */
  advance: boolean;
  /** Stage worker concurrency; 0 = no stage worker. */
  stageConcurrency: number;
  /** Labels this process's stage worker serves ([] = the default Linux queue). */
  labels: string[];
}

export interface RunningWorkers {
  workers: Worker[];
  close(force?: boolean): Promise<void>;
}

/**
 * Starts BullMQ workers over the pipeline verbs. In a process that runs both, the stage worker
 * advances a build itself when a stage ends (`inlineAdvance`) instead of queueing a job for
 * the advance worker beside it. A `UserError` becomes an
 * `UnrecoverableError` (never retried); anything else is retried with backoff. A stage
 * job that fails for good (retries used up, or stalled past `maxStalledCount` because its
 * worker died) leaves its stage `failed_infra`, never stuck running (R20). A build that
 * succeeded is cleaned up in the background (`BackgroundCleanup`); `close()` waits for those
 * cleanups, `close(true)` drops the ones not started (the startup reaper catches them).
 */
export function startWorkers(deps: WorkerDeps, opts: WorkerOptions): RunningWorkers {
  const prefix = `${opts.prefix ?? 'bosun'}:q`;
  const q = deps.config.queue;
  const common = {
    connection: opts.connection,
    prefix,
    lockDuration: q.lockDurationMs,
    stalledInterval: q.stalledIntervalMs,
    maxStalledCount: q.maxStalledCount,
  };
  const workers: Worker[] = [];
  const cleanup = new BackgroundCleanup((id) => cleanupBuild(deps, id), deps.log);
  const advanceAndClean = async (buildId: string) => {
    const build = await advanceBuild(deps, buildId);
    if (isFinishedForGood(build, deps.config.limits.retainFailedWorkspaceSec)) cleanup.schedule(buildId);
  };
  // With the advance worker in this process, a stage's end advances its build right here.
  const stageDeps: WorkerDeps = opts.advance ? { ...deps, queue: inlineAdvance(deps.queue, advanceAndClean, deps.log) } : deps;

  if (opts.advance) {
    const w = new Worker(
      advanceQueueName,
      async (job: Job) => {
        const data = AdvanceJob.parse(job.data);
        await unrecoverableOnUserError(() => advanceAndClean(data.buildId));
      },
      { ...common, concurrency: 4 },
    );
    w.on('error', (err) => deps.log.warn({ err }, 'Advance worker error'));
    workers.push(w);
  }

  if (opts.stageConcurrency > 0) {
    const w = new Worker(
      stageQueueName(opts.labels),
      async (job: Job, token?: string) => {
        const data = StageJob.parse(job.data);
        try {
          await unrecoverableOnUserError(() => runStage(stageDeps, data.buildId, data.stage, data.attempt));
        } catch (err) {
          if (!(err instanceof StageBusyError)) throw err;
          // Another live worker holds the stage: look again later, without using up an attempt.
          deps.log.info({ buildId: data.buildId, stage: data.stage }, 'Stage held by another worker; retrying later');
          await job.moveToDelayed(Date.now() + stageBusyDelayMs, token);
          throw new DelayedError();
        }
      },
      { ...common, concurrency: opts.stageConcurrency },
    );
    w.on('error', (err) => deps.log.warn({ err }, 'Stage worker error'));
    w.on('failed', (job, err) => {
      if (!job) return;
      const final = err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1) || /stalled/i.test(err.message);
      if (!final) return;
      const parsed = StageJob.safeParse(job.data);
      if (!parsed.success) return;
      deps.log.warn({ err, buildId: parsed.data.buildId, stage: parsed.data.stage }, 'Stage job failed for good');
      void failStage(stageDeps, parsed.data).catch((e: unknown) => deps.log.error({ err: e }, 'Could not record a failed stage'));
    });
    workers.push(w);
  }

  return {
    workers,
    async close(force = false) {
      await Promise.all(workers.map((w) => w.close(force)));
      if (force) cleanup.clear();
      else await cleanup.drain();
    },
  };
}

/** A stage whose job failed for good: its steps settled (`settleLostStage`), then the stage closed. */
async function failStage(deps: WorkerDeps, job: StageJob): Promise<void> {
  const build = await deps.store.get(job.buildId);
  if (!build || build.attempt !== job.attempt) return;
  const outcome = await settleLostStage(deps, deps.executor, job.buildId, job.stage);
  // A step still running is the watchdog's to wait for (the stage has no job any more).
  if (outcome === 'wait') return;
  await finishStage(deps, job.buildId, job.stage, outcome);
  await deps.queue.advance(job.buildId);
}

/**
 * Whether the build is over and nothing of it still runs, and what it held on this host (the
 * executor's per-build network and egress rules, its workspace volume, the checkout) can go
 * now: after success, after a cancel (someone stopped it: its network and volume do not wait
 * a day for a `retry --failed`, which then starts those stages from a fresh checkout plus
 * their `needs` artifacts), and after a failure when `limits.retainFailedWorkspaceSec` is 0. A
 * failed build otherwise keeps them, so `retry --failed` resumes with the files its passed
 * steps made; the worker pool's sweep removes those after the retention time. `build` is the
 * record as the advance pass left it.
 */
function isFinishedForGood(build: Build, retainFailedSec: number): boolean {
  const done = build.status === 'success' || build.status === 'skipped' || build.status === 'cancelled' || (build.status === 'failed' && retainFailedSec === 0);
  if (!done) return false;
  return !build.stages.some((s) => s.status === 'running' || s.steps.some((st) => st.status === 'running'));
}

/** Removes a finished build's executor resources, then its checkout (run in the background). */
async function cleanupBuild(deps: WorkerDeps, buildId: string): Promise<void> {
  await deps.executor.cleanupBuild(buildId);
  await removeWorkspace(deps.config, buildId);
}

async function unrecoverableOnUserError(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof CodedError && !err.retryable) throw new UnrecoverableError(`${err.code}: ${err.message}`);
    throw err;
  }
}

import { findStage } from '../domain/build.js';
import type { Executor } from '../executor/executor.js';
import type { PipelineDeps } from './pipeline-deps.js';
import { followStep, recordStep, stepLogWriter, timeoutSecOf } from './run-step.js';
import { unknownFateDetail } from './resume-step.js';
import { lostWhilePublishing, publishedAll } from '../publish/publish-stage.js';

/** What a stage that lost its worker for good ends as, or `wait` while its step still runs. */
export type LostStageOutcome = 'success' | 'failed' | 'failed_infra' | 'wait';

/**
 * A stage whose worker is gone for good (its job failed or vanished, no heartbeat): before the
 * stage is closed, each step it left `running` is settled by what the executor says became of it
 * (by the step's `executorRef`), so a step that finished keeps its real result:
 * - ended: re-attached (its log read back from the engine) and its outcome recorded;
 * - still running within its timeout: `wait` (the caller looks again later); past it: removed;
 * - gone or not knowable here (no executor in this process, another executor): `failed_infra`,
 *   "state unknown after a crash — retry it yourself".
 * Returns the outcome for the stage: `success` when every step succeeded, `failed` when one
 * failed, `failed_infra` otherwise.
 */
export async function settleLostStage(deps: PipelineDeps, executor: Executor | undefined, buildId: string, stageName: string): Promise<LostStageOutcome> {
  const build = await deps.store.require(buildId);
  const stage = findStage(build, stageName);
  if (!stage) return 'failed_infra';
  for (const step of stage.steps.filter((s) => s.status === 'running')) {
    const log = deps.log.child({ buildId, stage: stageName, step: step.name, ref: step.executorRef });
    const ref = executor && step.executor === executor.name ? step.executorRef : undefined;
    if (!executor || !ref) {
      await recordStep(deps, buildId, stageName, step.name, 'failed_infra', { reason: 'worker_lost', detail: unknownFateDetail });
      continue;
    }
    const fate = await executor.inspectRef(ref);
    const timeoutSec = timeoutSecOf(deps, step.plan);
    if (fate.state === 'running') {
      const started = step.startedAt ? Date.parse(step.startedAt) : 0;
      if (Date.now() - started < timeoutSec * 1000) return 'wait';
      log.warn('Step of a lost stage ran past its timeout; removing it');
      await executor.destroyRef(ref);
      await recordStep(deps, buildId, stageName, step.name, 'failed', { exitCode: -1, reason: 'timeout' });
      continue;
    }
    const handle = fate.state === 'exited' ? await executor.reattach(ref, timeoutSec) : undefined;
    if (!handle) {
      await executor.destroyRef(ref).catch((err: unknown) => log.warn({ err }, 'Could not destroy the earlier run'));
      await recordStep(deps, buildId, stageName, step.name, 'failed_infra', { reason: 'worker_lost', detail: unknownFateDetail });
      continue;
    }
    log.warn({ fate }, 'Step of a lost stage had ended; recording its real outcome');
    await deps.logs.reset(buildId, stageName, step.name);
    await followStep(
      deps,
      { buildId, stage: stageName, step: step.name, onStarted: () => undefined },
      handle,
      stepLogWriter(deps, buildId, stageName, step.name),
      ['bosun: the worker running this step died after the step ended; this log was read back from it (the step was not run again)'],
    );
  }
  const latest = await deps.store.require(buildId);
  const after = findStage(latest, stageName);
  const statuses = after?.steps.map((s) => s.status) ?? [];
  // A deploy stage (no steps) whose worker died: its deploy goes on (the deploy watchdog settles
  // it), but this stage cannot know it passed; a retry finds the deploy (docs/deploys.md).
  if (after?.deploy) {
    await deps.store.update(buildId, (b) => {
      const s = findStage(b, stageName);
      if (!s) return null;
      s.deployError = `the worker died while waiting for ${s.deployId ? `deploy #${s.deployId}` : 'its deploy'} to ${s.deploy}; \`envs\` shows how it ended, and a retry of the build waits for it again`;
      return [];
    });
    return 'failed_infra';
  }
  if (statuses.every((s) => s === 'success')) {
    // Its steps passed but the worker died before publishing everything: not a success.
    if (publishedAll(latest, stageName)) return 'success';
    await lostWhilePublishing(deps, buildId, stageName);
    return 'failed_infra';
  }
  if (statuses.includes('failed')) return 'failed';
  return 'failed_infra';
}

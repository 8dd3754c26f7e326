import type { Build } from '../domain/build.js';
import { findStage } from '../domain/build.js';
import { StepLogWriter } from '../logs/step-log-writer.js';
import { CodedError } from '../errors.js';
import type { WorkerDeps } from './pipeline-deps.js';

/** The pseudo-step whose log holds the deploy's progress (like `bosun:publish`). */
export const DEPLOY_LOG_STEP = 'bosun:deploy';

export type DeployStageOutcome = 'success' | 'failed' | 'cancelled';

/**
 * Deploys for a deploy stage (`deploy: <environment>`); src/deploys implements it over the
 * DeployManager, so the stage's deploy is an ordinary deploy (one per environment at a time,
 * idempotency key, supersede, history, audit, `deploy.status`, GitHub deployment).
 *
 * Contract: `deploy` checks what it can before anything happens (environment, repository,
 * trust, approval, lock, a published image) and reports a refusal as `failed` with the reason;
 * otherwise it requests the deploy of the build's published image, or, when this stage and
 * attempt already requested one (a worker died and the stage runs again), finds that one and
 * never requests another; then it waits until the deploy ends and reports its outcome
 * (`succeeded` → success; failed, rolled back, superseded, refused → failed with the reason).
 * `onLine` gets the deploy's progress, a line per state. When `signal` aborts (the build was
 * cancelled) it stops waiting, drops the deploy if it had not started, and reports `cancelled`.
 */
export interface StageDeployer {
  deploy(input: {
    build: Build;
    stage: string;
    environment: string;
    signal: AbortSignal;
    onLine(line: string): void;
    /** Records the deploy's id on the stage as soon as it is known. */
    onDeploy(deployId: string): Promise<void>;
  }): Promise<{ outcome: DeployStageOutcome; reason?: string }>;
}

/**
 * Bosun's act for a deploy stage (it has no steps): deploy this build's published image to the
 * stage's environment, writing the deploy's progress to the stage's `bosun:deploy` log. The
 * stage's outcome is the deploy's: a deploy that did not succeed fails the stage (the reason in
 * `StageRun.deployError` and the log), and the stages that need it are skipped.
 */
export async function runDeployStage(
  deps: WorkerDeps,
  buildId: string,
  stageName: string,
  opts: { cancelled(): boolean; onStarted(stop: () => void): void },
): Promise<DeployStageOutcome> {
  const build = await deps.store.require(buildId);
  const stage = findStage(build, stageName);
  const environment = stage?.deploy;
  if (!stage || !environment) return 'success';
  await deps.logs.reset(buildId, stageName, DEPLOY_LOG_STEP);
  const writer = new StepLogWriter(
    {
      append: async (firstLine, batch) => {
        await deps.logs.append(buildId, stageName, DEPLOY_LOG_STEP, firstLine, batch);
        await deps.bus.publish({ type: 'log.chunk', buildId, stage: stageName, step: DEPLOY_LOG_STEP, lines: batch, firstLine });
      },
    },
    deps.secrets,
  );
  const setStage = (change: { deployId?: string; deployError?: string | null }) =>
    deps.store.update(buildId, (b) => {
      const s = findStage(b, stageName);
      if (!s) return null;
      if (change.deployId !== undefined) s.deployId = change.deployId;
      if (change.deployError === null) delete s.deployError;
      else if (change.deployError !== undefined) s.deployError = change.deployError;
      return [];
    });
  if (stage.deployError) await setStage({ deployError: null });
  const controller = new AbortController();
  opts.onStarted(() => controller.abort());
  if (opts.cancelled()) controller.abort();
  let outcome: DeployStageOutcome;
  try {
    if (!deps.deployer) {
      outcome = 'failed';
      const reason = `this worker cannot deploy: server config has no environments (environments.${environment})`;
      writer.note(`bosun: ${reason}`);
      await setStage({ deployError: reason });
    } else {
      const result = await deps.deployer.deploy({
        build,
        stage: stageName,
        environment,
        signal: controller.signal,
        onLine: (line) => writer.note(line),
        onDeploy: async (deployId) => void (await setStage({ deployId })),
      });
      outcome = result.outcome;
      if (outcome === 'failed') await setStage({ deployError: result.reason ?? `the deploy to ${environment} did not succeed` });
    }
  } catch (err) {
    if (opts.cancelled()) {
      outcome = 'cancelled';
    } else if (err instanceof CodedError && err.retryable) {
      // Redis or the engine away: the stage runs again and finds its deploy (never a second one).
      writer.note(`bosun: ${err.message}; trying again`);
      throw err;
    } else {
      const reason = `deploy failed: ${err instanceof Error ? err.message : String(err)}`;
      deps.log.error({ err, buildId, stage: stageName }, 'Deploy stage failed unexpectedly');
      writer.note(`bosun: ${reason}`);
      await setStage({ deployError: reason });
      outcome = 'failed';
    }
  } finally {
    await writer.close().catch((err: unknown) => deps.log.warn({ err }, 'Could not write the deploy log'));
    await deps.logs.finish(buildId, stageName, DEPLOY_LOG_STEP).catch(() => undefined);
  }
  return outcome;
}

import type { Build } from '../domain/build.js';
import { findStage, findStep } from '../domain/build.js';
import type { StepOutcome } from '../executor/executor.js';
import { collectOutputs } from '../artifacts/collect-outputs.js';
import { mergeSummaries } from '../artifacts/junit-report.js';
import type { ArtifactStore } from '../artifacts/artifact-store.js';
import { artifactStoreFor } from '../artifacts/open-artifact-store.js';
import { GlobSet } from '../artifacts/glob-match.js';
import type { WorkerDeps } from './pipeline-deps.js';
import type { StepResult } from './run-step.js';

/** The artifact store of these deps: the one given, else the one server config `artifacts.store` names. */
export function artifactStoreOf(deps: Pick<WorkerDeps, 'config'> & { artifacts?: ArtifactStore }): ArtifactStore {
  return deps.artifacts ?? artifactStoreFor(deps.config);
}

/**
 * The `collect` hook of one step (see `FollowedStep.collect`), or undefined when it has nothing
 * to collect: its own `artifacts`/`reports`, plus the stage's when it is the stage's last step
 * that runs (the last one, or one that failed). Collected whether the step succeeded or failed
 * (a failing test step's reports are the point), never when it was cancelled or its node was
 * lost. What is kept is recorded on the build (`Build.artifacts`, the stage's `tests`).
 */
export function stepOutputs(
  deps: WorkerDeps,
  build: Build,
  stageName: string,
  stepName: string,
  workspace: string,
): ((outcome: StepOutcome, status: StepResult['status']) => Promise<string[]>) | undefined {
  const stage = findStage(build, stageName);
  const step = findStep(build, stageName, stepName);
  if (!stage || !step) return undefined;
  const last = stage.steps[stage.steps.length - 1]?.name === stepName;
  const own = { artifacts: step.plan.artifacts ?? [], reports: step.plan.reports ?? [] };
  const withStage = { artifacts: [...own.artifacts, ...(stage.artifacts ?? [])], reports: [...own.reports, ...(stage.reports ?? [])] };
  if (withStage.artifacts.length + withStage.reports.length === 0) return undefined;
  const log = deps.log.child({ buildId: build.id, stage: stageName, step: stepName });
  return async (outcome, status) => {
    if (status === 'cancelled' || status === 'failed_infra') return [];
    const globs = last || status !== 'success' ? withStage : own;
    if (globs.artifacts.length + globs.reports.length === 0) return [];
    if (!deps.executor.readWorkspace) return [`bosun: artifacts and reports not collected: the ${deps.executor.name} executor cannot read workspaces`];
    try {
      const wanted = new GlobSet([...globs.artifacts, ...globs.reports]);
      const tar = await deps.executor.readWorkspace({
        buildId: build.id,
        workspace,
        image: step.plan.image,
        ...(outcome.node ? { node: outcome.node } : {}),
        wants: (path, dir) => (dir ? wanted.mayContain(path) : wanted.matches(path)),
        maxBytes: deps.config.artifacts.maxBuildBytes + deps.config.artifacts.maxReportBytes,
        maxFileBytes: Math.max(deps.config.artifacts.maxFileBytes, deps.config.artifacts.maxReportBytes),
      });
      const current = await deps.store.require(build.id);
      const kept = (current.artifacts ?? []).reduce((n, f) => n + f.size, 0);
      const { artifacts: caps } = deps.config;
      const result = await collectOutputs(artifactStoreOf(deps), tar, {
        repo: build.repo,
        buildId: build.id,
        stage: stageName,
        step: stepName,
        ...globs,
        keptBytes: kept,
        caps: { maxFileBytes: caps.maxFileBytes, maxBuildBytes: caps.maxBuildBytes, maxReportBytes: caps.maxReportBytes },
      });
      if (result.artifacts.length > 0 || result.tests) {
        await deps.store.update(build.id, (b) => {
          const s = findStage(b, stageName);
          if (!s) return null;
          const paths = new Set(result.artifacts.map((f) => f.path));
          if (result.artifacts.length > 0) b.artifacts = [...(b.artifacts ?? []).filter((f) => !paths.has(f.path)), ...result.artifacts];
          if (result.tests) s.tests = mergeSummaries(s.tests, result.tests);
          return [];
        });
      }
      return result.notes;
    } catch (err) {
      log.warn({ err }, 'Collecting artifacts and reports failed');
      return [`bosun: artifacts and reports not collected: ${err instanceof Error ? err.message : String(err)}`];
    }
  };
}

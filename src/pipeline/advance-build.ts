import type { Build, StageRun } from '../domain/build.js';
import type { BuildEvent } from '../domain/build-event.js';
import { isTerminal, type RunStatus } from '../domain/status.js';
import type { PipelineDeps } from './pipeline-deps.js';
import { setBuildStatus, setStageStatus, setStepStatus, nowIso } from './transition.js';
import { startBuild } from './start-build.js';
import { routingLabels } from './step-placement.js';

/**
 * Verb: look at a build and move it on — start it if it has no plan yet, queue every stage
 * whose `needs` all succeeded, skip stages whose needs did not, and finish the build once
 * every stage is done. Idempotent and safe to run concurrently: the store's compare-and-set
 * decides, and queued stages are (re-)enqueued with a deduplicating job id. Returns the build as
 * this pass left it (what it wrote, or what it read when there was nothing to do).
 */
export async function advanceBuild(deps: PipelineDeps, buildId: string): Promise<Build> {
  let build = await deps.store.require(buildId);
  if (isTerminal(build.status)) return build;
  if (build.stages.length === 0) {
    build = (await startBuild(deps, build)) ?? (await deps.store.require(buildId));
    if (isTerminal(build.status)) return build;
  }
  const { build: next } = await deps.store.update(buildId, (b) => step(b));
  for (const stage of next.stages) {
    if (stage.status === 'queued') await deps.queue.runStage(next.id, stage.name, next.attempt, routingLabels(deps.config.swarm, stage.labels));
  }
  return next;
}

function step(b: Build): BuildEvent[] | null {
  if (isTerminal(b.status)) return null;
  const now = nowIso();
  const events: BuildEvent[] = [];
  let changed = true;
  while (changed) {
    changed = false;
    for (const stage of b.stages) {
      if (stage.status !== 'pending') continue;
      const needs = stage.needs.map((n) => b.stages.find((s) => s.name === n)?.status ?? 'success');
      if (needs.some((s) => isTerminal(s) && s !== 'success')) {
        events.push(...setStageStatus(b, stage, 'skipped', now));
        for (const st of stage.steps) if (st.status === 'pending') events.push(...setStepStatus(b, stage, st, 'skipped', now));
        changed = true;
      } else if (needs.every((s) => s === 'success')) {
        events.push(...setStageStatus(b, stage, 'queued', now));
      }
    }
  }
  events.push(...setBuildStatus(b, buildStatusFrom(b.stages, b.status), now));
  return events.length > 0 ? events : null;
}

/** The build's status as implied by its stages. */
function buildStatusFrom(stages: StageRun[], current: RunStatus): RunStatus {
  if (stages.some((s) => s.status === 'running' || s.status === 'queued'))
    return current === 'queued' ? 'running' : current === 'waiting' ? 'running' : current;
  if (stages.some((s) => s.status === 'waiting')) return 'waiting';
  if (stages.some((s) => s.status === 'pending')) return current;
  if (stages.some((s) => s.status === 'failed')) return 'failed';
  if (stages.some((s) => s.status === 'failed_infra')) return 'failed_infra';
  if (stages.some((s) => s.status === 'cancelled')) return 'cancelled';
  return 'success';
}

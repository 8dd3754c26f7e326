import type { Actor, Build } from '../domain/build.js';
import type { BuildEvent } from '../domain/build-event.js';
import { isTerminal } from '../domain/status.js';
import { UserError } from '../errors.js';
import type { PipelineDeps } from './pipeline-deps.js';
import { setBuildStatus, setStageStatus, setStepStatus, nowIso } from './transition.js';
import { releaseCheckpointLease } from '../leases/checkpoint-leases.js';

/**
 * Verb: cancel a build. Stages not yet running are cancelled at once; running steps are
 * stopped by their worker (SIGTERM, grace, SIGKILL — R17), which records them cancelled.
 */
export async function cancelBuild(deps: PipelineDeps, buildId: string, actor: Actor, source: string): Promise<Build> {
  const before = await deps.store.require(buildId);
  if (isTerminal(before.status)) {
    throw new UserError('invalid_transition', `build #${buildId} already finished (${before.status}); nothing to cancel`);
  }
  const { build } = await deps.store.update(buildId, (b) => {
    if (isTerminal(b.status)) return null;
    const now = nowIso();
    const events: BuildEvent[] = [];
    for (const stage of b.stages) {
      if (stage.status === 'pending' || stage.status === 'queued' || stage.status === 'waiting') {
        for (const step of stage.steps) if (step.status === 'pending') events.push(...setStepStatus(b, stage, step, 'cancelled', now));
        events.push(...setStageStatus(b, stage, 'cancelled', now));
      }
    }
    events.push(...setBuildStatus(b, 'cancelled', now, { code: 'cancelled', message: `cancelled by ${actor.name}` }));
    return events;
  });
  await deps.control.cancel(buildId);
  for (const s of before.stages) if (s.checkpointState?.leaseId) await releaseCheckpointLease(deps, build, s.name);
  await deps.audit.record({ action: 'build.cancel', actorId: actor.id, source, outcome: 'ok', buildId, sha: build.sha });
  return build;
}

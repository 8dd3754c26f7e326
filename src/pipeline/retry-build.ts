import type { Actor, Build } from '../domain/build.js';
import type { BuildEvent } from '../domain/build-event.js';
import { isRetryable, isTerminal } from '../domain/status.js';
import { UserError } from '../errors.js';
import type { PipelineDeps } from './pipeline-deps.js';
import { createBuild } from './create-build.js';
import { setBuildStatus, setStageStatus, setStepStatus, nowIso } from './transition.js';

/**
 * Verb: retry a finished build.
 * - whole (default): a new build of the same commit, linked by `retryOf`.
 * - fromFailed: the same build, again from its first step that did not succeed; steps
 *   that succeeded keep their result and are not run again.
 */
export async function retryBuild(deps: PipelineDeps, buildId: string, opts: { fromFailed: boolean; actor: Actor; source: string }): Promise<Build> {
  const before = await deps.store.require(buildId);
  if (!isTerminal(before.status)) throw new UserError('invalid_transition', `build #${buildId} is still ${before.status}; cancel it first`);
  if (!opts.fromFailed) {
    const { build } = await createBuild(deps, {
      repo: before.repo,
      ref: before.ref,
      sha: before.sha,
      trigger: { ...before.trigger, actor: opts.actor, source: opts.source, deliveryId: undefined },
      retryOf: before.id,
    });
    if (!build) throw new UserError('conflict', `could not retry build #${buildId}`);
    return build;
  }
  if (!isRetryable(before.status)) {
    throw new UserError(
      'invalid_transition',
      `build #${buildId} ${before.status === 'success' ? 'succeeded' : `is ${before.status}`}; only failed or cancelled builds retry from the failed step`,
    );
  }
  const { build } = await deps.store.update(buildId, (b) => {
    if (!isRetryable(b.status)) return null;
    const now = nowIso();
    const events: BuildEvent[] = [];
    b.attempt += 1;
    delete b.error;
    for (const stage of b.stages) {
      if (stage.status === 'success') continue;
      // The re-run reads its reports afresh (a report of the failed run would be counted twice).
      delete stage.tests;
      for (const step of stage.steps) {
        if (step.status !== 'success') events.push(...setStepStatus(b, stage, step, 'pending', now));
      }
      events.push(...setStageStatus(b, stage, 'pending', now));
    }
    events.push(...setBuildStatus(b, 'queued', now));
    return events;
  });
  await deps.audit.record({
    action: 'build.retry',
    actorId: opts.actor.id,
    source: opts.source,
    outcome: 'ok',
    buildId,
    sha: build.sha,
    detail: 'from failed step',
  });
  await deps.queue.advance(buildId);
  return build;
}

import { CodedError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { WorkQueue } from '../pipeline/pipeline-deps.js';

/**
 * The work queue as a stage worker sees it in a process that also runs the advance worker:
 * `advance(buildId)` (a stage ended) looks at the build here and now with `advanceNow`, which
 * is what this process's advance worker would do a moment later, without the job's round
 * trips (add, fetch, lock, complete). Everything else goes to `queue` unchanged.
 *
 * Contract: same as `WorkQueue.advance` (idempotent; duplicates harmless). When `advanceNow`
 * fails for an infrastructure reason, the advance job is queued as before, so it is retried
 * with backoff; a user error (e.g. the build is gone) is logged and dropped, as the advance
 * worker would drop it (unrecoverable).
 */
export function inlineAdvance(queue: WorkQueue, advanceNow: (buildId: string) => Promise<void>, log: Logger): WorkQueue {
  const { heartbeat, claimStage, releaseStage } = queue;
  return {
    async advance(buildId) {
      try {
        await advanceNow(buildId);
      } catch (err) {
        if (err instanceof CodedError && !err.retryable) {
          log.warn({ err, buildId }, 'Advancing the build failed on a user error');
          return;
        }
        log.warn({ err, buildId }, 'Advancing the build here failed; queued for the advance worker');
        await queue.advance(buildId);
      }
    },
    runStage: (buildId, stage, attempt, labels) => queue.runStage(buildId, stage, attempt, labels),
    ...(heartbeat ? { heartbeat: heartbeat.bind(queue) } : {}),
    ...(claimStage ? { claimStage: claimStage.bind(queue) } : {}),
    ...(releaseStage ? { releaseStage: releaseStage.bind(queue) } : {}),
  };
}

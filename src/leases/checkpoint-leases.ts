import type { Build } from '../domain/build.js';
import { findStage } from '../domain/build.js';
import type { PipelineDeps } from '../pipeline/pipeline-deps.js';
import { describe } from './lease-manager.js';

/** The holder of a checkpoint's lease: the tester, whoever that turns out to be. */
function checkpointHolder(buildId: string, stage: string) {
  return { id: `checkpoint:${buildId}/${stage}`, name: `build #${buildId} ${stage} (tester)` };
}

/**
 * How long a checkpoint's lease outlives the checkpoint's deadline. The watchdog decides a
 * checkpoint that nobody decided (`timeout`) and that decision releases the lease; the lease's
 * own expiry is only the backstop for a Bosun that is down at the deadline. Without the grace
 * the reaper and the watchdog race at the same instant and the phone goes back as "expired,
 * not renewed" instead of "checkpoint timed out".
 */
export const CHECKPOINT_LEASE_GRACE_SEC = 60;

/**
 * Hook before a stage reaches its checkpoint (in `finishStage`): when the checkpoint asks for
 * a resource, leases it for the tester until the checkpoint's deadline (plus
 * `CHECKPOINT_LEASE_GRACE_SEC`; not capped by the pool's `maxTtlSec`, or a 24 h checkpoint
 * would lose its phone to the reaper after 8 h while the tester still works on it) and returns what goes into
 * `checkpointState`. A request that must wait is still recorded (`leaseId`, and a label saying
 * whom it waits behind); its later `lease.granted` event carries the build id for the thread.
 * Idempotent under redelivery: a stage that already has a checkpoint lease gets nothing new.
 */
export async function leaseForCheckpoint(deps: Pick<PipelineDeps, 'store' | 'leases' | 'log'>, buildId: string, stageName: string): Promise<{ leaseId?: string; resourceLabel?: string }> {
  const build = await deps.store.get(buildId);
  const stage = build ? findStage(build, stageName) : undefined;
  const req = stage?.checkpoint?.resource;
  if (!req || !deps.leases || stage.checkpointState?.leaseId) return {};
  const result = await deps.leases.acquire(req.pool, req.attributes, checkpointHolder(buildId, stageName), stage.checkpoint ? stage.checkpoint.timeoutSec + CHECKPOINT_LEASE_GRACE_SEC : undefined, { buildId, stage: stageName, source: 'checkpoint', uncapped: true });
  const l = result.lease;
  if (result.status === 'granted') return { leaseId: l.id, resourceLabel: `${l.item} (${l.pool}) — lease ${l.id}` };
  return { leaseId: l.id, resourceLabel: `waiting for ${describe(l.pool, l.attributes)}: #${result.position + 1} in line${result.ahead ? ` behind ${result.ahead}` : ''} — lease ${l.id}` };
}

/** Gives back a checkpoint's lease (after a decision or timeout, or when the stage never reached it). Never throws. */
export async function releaseCheckpointLease(deps: Pick<PipelineDeps, 'leases' | 'log'>, build: Build, stageName: string, leaseId?: string): Promise<void> {
  const id = leaseId ?? findStage(build, stageName)?.checkpointState?.leaseId;
  if (!id || !deps.leases) return;
  const lease = await deps.leases.get(id);
  if (!lease || (lease.state !== 'active' && lease.state !== 'waiting')) return;
  await deps.leases.release(id, lease.holder, lease.token, 'checkpoint decided', { admin: true, buildId: build.id, source: 'checkpoint' })
    .catch((err: unknown) => deps.log.warn({ err, buildId: build.id, leaseId: id }, 'Releasing a checkpoint lease failed'));
}

import type { Build } from '../domain/build.js';
import { findStage } from '../domain/build.js';
import type { PipelineDeps } from '../pipeline/pipeline-deps.js';
import type { PlanCheckpoint } from '../domain/plan.js';
import { describe } from './lease-manager.js';
import type { Pools } from './pool-config.js';

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
const CHECKPOINT_LEASE_GRACE_SEC = 60;

/**
 * Hook before a stage reaches its checkpoint (in `finishStage`): when the checkpoint asks for
 * a resource, leases it for the tester until the checkpoint's deadline plus
 * `CHECKPOINT_LEASE_GRACE_SEC`. The pool's `maxTtlSec` bounds the checkpoint instead of the
 * lease: a checkpoint that holds an item waits at most that long (the deadline it shows is the
 * real one), so the item is never reaped from under a tester who still works on it, and a
 * repository cannot hold an item longer than the pool allows anyone. Returns what goes into
 * `checkpointState`. A request that must wait is still recorded (`leaseId`, and a label saying
 * whom it waits behind); its later `lease.granted` event carries the build id for the thread.
 * Idempotent under redelivery: a stage that already has a checkpoint lease gets nothing new.
 */
export async function leaseForCheckpoint(deps: Pick<PipelineDeps, 'store' | 'leases' | 'log'>, buildId: string, stageName: string): Promise<CheckpointLease> {
  const build = await deps.store.get(buildId);
  const stage = build ? findStage(build, stageName) : undefined;
  const cp = stage?.checkpoint;
  const req = cp?.resource;
  if (!cp || !req || !deps.leases || stage.checkpointState?.leaseId) return {};
  const ttlSec = checkpointTimeoutSec(cp, deps.leases.pools) + CHECKPOINT_LEASE_GRACE_SEC;
  const result = await deps.leases.acquire(req.pool, req.attributes, checkpointHolder(buildId, stageName), ttlSec, {
    buildId,
    stage: stageName,
    source: 'checkpoint',
    uncapped: true,
  });
  const l = result.lease;
  if (result.status === 'granted') return { leaseId: l.id, resourceLabel: `${l.item} (${l.pool}) — lease ${l.id}` };
  return {
    leaseId: l.id,
    resourceLabel: `waiting for ${describe(l.pool, l.attributes)}: #${result.position} in line${result.ahead ? ` behind ${result.ahead}` : ''} — lease ${l.id}`,
  };
}

/** What `leaseForCheckpoint` gives the checkpoint: its lease and how to show it. */
export interface CheckpointLease {
  leaseId?: string;
  resourceLabel?: string;
}

/**
 * How long a checkpoint waits for a verdict: its `timeout`, but a checkpoint that leases an
 * item waits at most the pool's `maxTtlSec`. Its deadline and its lease both come from this.
 */
export function checkpointTimeoutSec(cp: PlanCheckpoint, pools: Pools): number {
  const maxTtlSec = cp.resource ? pools[cp.resource.pool]?.maxTtlSec : undefined;
  return maxTtlSec === undefined ? cp.timeoutSec : Math.min(cp.timeoutSec, maxTtlSec);
}

/** Gives back a checkpoint's lease (after a decision or timeout, or when the stage never reached it). Never throws. */
export async function releaseCheckpointLease(deps: Pick<PipelineDeps, 'leases' | 'log'>, build: Build, stageName: string, leaseId?: string): Promise<void> {
  const id = leaseId ?? findStage(build, stageName)?.checkpointState?.leaseId;
  if (!id || !deps.leases) return;
  const lease = await deps.leases.get(id);
  if (!lease || (lease.state !== 'active' && lease.state !== 'waiting')) return;
  await deps.leases
    .release(id, lease.holder, lease.token, 'checkpoint decided', { admin: true, buildId: build.id, source: 'checkpoint' })
    .catch((err: unknown) => deps.log.warn({ err, buildId: build.id, leaseId: id }, 'Releasing a checkpoint lease failed'));
}

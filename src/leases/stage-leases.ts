import type { Actor, Build, StageRun } from '../domain/build.js';
import { findStage } from '../domain/build.js';
import { UserError } from '../errors.js';
import type { PipelineDeps } from '../pipeline/pipeline-deps.js';
import { setStageStatus, nowIso } from '../pipeline/transition.js';
import type { Lease } from './lease-manager.js';

/** Leases a running stage holds, and how to give them back. */
export interface HeldResources {
  /** `BOSUN_RESOURCE_<POOL>=<item>` (+ `_ATTRIBUTES`, `_LEASE`, `_TOKEN`) for the steps. */
  env: Record<string, string>;
  /** Stops the renewals and releases every lease; safe to call twice. */
  release(reason: string): Promise<void>;
}

const pollMs = 250;

/** The holder a stage's leases are under (never a person, so no one can release it from chat but admins). */
function stageHolder(buildId: string, stage: string): Actor {
  return { id: `build:${buildId}/${stage}`, name: `build #${buildId} ${stage}` };
}

/** True for a stage paused on its resources (not on a checkpoint). */
export function waitingOnResources(stage: StageRun): boolean {
  return stage.status === 'waiting' && !stage.checkpointState && stage.resources.length > 0;
}

/**
 * Hook before a stage's steps (on the worker): leases every resource the stage asks for,
 * waiting in line like a person does — the stage shows `waiting` meanwhile and `lease.waiting`
 * says behind whom — then puts the stage back to `running`. While held, each lease is renewed
 * with its fencing token every third of the pool's `pipelineTtlSec`, so a worker killed with
 * -9 loses its leases at expiry and the reaper/janitor pass the items on. The items go into
 * the steps' env of this in-memory build (never persisted). A stage resumed on another worker
 * takes over its own earlier lease or place in line (with a new fencing token) instead of
 * queueing behind itself. Returns early (holding nothing)
 * when `isCancelled()` turns true while waiting.
 */
export async function acquireStageResources(deps: PipelineDeps, build: Build, stage: StageRun, isCancelled: () => boolean): Promise<HeldResources> {
  const held: Lease[] = [];
  const timers: NodeJS.Timeout[] = [];
  const release = async (reason: string) => {
    for (const t of timers.splice(0)) clearInterval(t);
    for (const l of held.splice(0)) {
      await deps.leases
        ?.release(l.id, l.holder, l.token, reason, { admin: true, buildId: build.id, source: 'pipeline' })
        .catch((err: unknown) => deps.log.warn({ err, buildId: build.id, leaseId: l.id }, 'Releasing a stage lease failed'));
    }
  };
  if (stage.resources.length === 0) return { env: {}, release };
  const leases = deps.leases;
  if (!leases) throw new UserError('lease_denied', `stage ${stage.name} needs resources, but this Bosun has no pools configured`);
  const holder = stageHolder(build.id, stage.name);
  const env: Record<string, string> = {};
  try {
    for (const req of stage.resources) {
      const ttl = leases.pool(req.pool).pipelineTtlSec;
      const opts = { buildId: build.id, stage: stage.name, source: 'pipeline' };
      const first =
        (await leases.takeOver(
          req.pool,
          holder,
          held.map((l) => l.id),
          opts,
        )) ?? (await leases.acquire(req.pool, req.attributes, holder, ttl, opts));
      let lease = first.lease;
      if (first.status === 'waiting') {
        await setStage(deps, build.id, stage.name, 'waiting');
        while (lease.state === 'waiting') {
          if (isCancelled()) {
            await leases.release(lease.id, holder, undefined, 'stage cancelled', { admin: true, buildId: build.id, source: 'pipeline' }).catch(() => undefined);
            await release('stage cancelled');
            await setStage(deps, build.id, stage.name, 'running');
            return { env: {}, release };
          }
          await new Promise((r) => setTimeout(r, pollMs));
          lease = await leases.require(lease.id);
        }
        if (lease.state !== 'active')
          throw new UserError('lease_denied', `the request ${lease.id} for ${req.pool} ended (${lease.state}) before it was granted`);
        await setStage(deps, build.id, stage.name, 'running');
      }
      held.push(lease);
      timers.push(renewEvery(deps, lease, ttl));
      const name = req.pool.toUpperCase().replace(/[^A-Z0-9]/g, '_');
      env[`BOSUN_RESOURCE_${name}`] = lease.item ?? '';
      env[`BOSUN_RESOURCE_${name}_ATTRIBUTES`] = (leases.pools[req.pool]?.items.find((i) => i.id === lease.item)?.attributes ?? []).join(',');
      env[`BOSUN_RESOURCE_${name}_LEASE`] = lease.id;
      env[`BOSUN_RESOURCE_${name}_TOKEN`] = String(lease.token ?? '');
    }
  } catch (err) {
    await release('stage failed to get its resources');
    await setStage(deps, build.id, stage.name, 'running');
    throw err;
  }
  return { env, release };
}

function renewEvery(deps: PipelineDeps, lease: Lease, ttlSec: number): NodeJS.Timeout {
  const timer = setInterval(
    () => {
      void deps.leases
        ?.renew(lease.id, lease.holder, lease.token, ttlSec, { admin: true, buildId: lease.buildId ?? '', source: 'pipeline' })
        .catch((err: unknown) => deps.log.warn({ err, leaseId: lease.id }, 'Renewing a stage lease failed'));
    },
    Math.max(500, (ttlSec * 1000) / 3),
  );
  timer.unref();
  return timer;
}

async function setStage(deps: PipelineDeps, buildId: string, stageName: string, to: 'waiting' | 'running'): Promise<void> {
  await deps.store.update(buildId, (b) => {
    const s = findStage(b, stageName);
    if (!s || s.status === to || (s.status !== 'running' && s.status !== 'waiting')) return null;
    return setStageStatus(b, s, to, nowIso());
  });
}

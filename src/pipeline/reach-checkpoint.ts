import type { Build, StageRun } from '../domain/build.js';
import type { BuildEvent } from '../domain/build-event.js';
import type { ServerConfig } from '../config.js';
import { setBuildStatus, setStageStatus } from './transition.js';
import { checkpointTimeoutSec, type CheckpointLease } from '../leases/checkpoint-leases.js';

/**
 * Puts a stage whose steps all passed into `waiting` on its checkpoint: records the
 * deadline (`checkpointTimeoutSec`: the timeout, capped by the pool of a leased item), who
 * may not approve (the requester), how many passes are needed, and the commit the decision
 * is bound to. The event tells reporters to post instructions and buttons.
 */
export function reachCheckpoint(config: ServerConfig, b: Build, s: StageRun, now: string, extra: CheckpointLease = {}): BuildEvent[] {
  const cp = s.checkpoint;
  if (!cp) return [];
  const deadline = new Date(Date.parse(now) + checkpointTimeoutSec(cp, config.pools) * 1000).toISOString();
  s.checkpointState = {
    deadline,
    requestedBy: b.trigger.actor.id,
    required: config.approvals[cp.approvers] ?? 1,
    approvals: [],
    sha: b.sha,
    ...extra,
  };
  const events = setStageStatus(b, s, 'waiting', now);
  events.push({
    type: 'checkpoint.waiting',
    buildId: b.id,
    stage: s.name,
    instructions: cp.instructions,
    checklist: cp.checklist,
    approvers: cp.approvers,
    deadline,
    ...(extra.resourceLabel ? { resource: extra.resourceLabel } : {}),
  });
  if (!b.stages.some((x) => x.status === 'running' || x.status === 'queued')) events.push(...setBuildStatus(b, 'waiting', now));
  return events;
}

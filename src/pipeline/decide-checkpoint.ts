import type { Actor, Build, Decision } from '../domain/build.js';
import type { BuildEvent } from '../domain/build-event.js';
import { findStage } from '../domain/build.js';
import { UserError } from '../errors.js';
import type { PipelineDeps } from './pipeline-deps.js';
import { setBuildStatus, setStageStatus, nowIso } from './transition.js';
import { releaseCheckpointLease } from '../leases/checkpoint-leases.js';

export interface DecideInput {
  buildId: string;
  /** Stage name; defaults to the build's one waiting stage. */
  stage?: string;
  decision: 'pass' | 'fail' | 'timeout';
  actor: Actor;
  source: string;
  eventId?: string;
}

export type DecideOutcome = 'passed' | 'failed' | 'recorded';

/**
 * Verb: a person passes or fails a waiting checkpoint (or the watchdog times it out).
 * Who may decide comes from server config only: the actor's stable id must be in the
 * checkpoint's approver group, and never be the build's requester (R9). A pass counts
 * toward the N-of-M the group requires; a fail decides at once. The compare-and-set makes a
 * double click one decision: the second sees the stage no longer waiting and is told who
 * decided. Every attempt, allowed or not, is audited (R10).
 */
export async function decideCheckpoint(deps: PipelineDeps, input: DecideInput): Promise<{ build: Build; outcome: DecideOutcome }> {
  const before = await deps.store.require(input.buildId);
  const stageName = input.stage ?? before.stages.find((s) => s.status === 'waiting' && s.checkpointState)?.name;
  const audit = (outcome: 'ok' | 'denied', detail: string) =>
    deps.audit.record({
      action: `checkpoint.${input.decision}`,
      actorId: input.actor.id,
      source: input.source,
      outcome,
      buildId: input.buildId,
      sha: before.sha,
      detail,
      ...(input.eventId ? { eventId: input.eventId } : {}),
    });
  const stage = stageName ? findStage(before, stageName) : undefined;
  if (!stage?.checkpoint) {
    await audit('denied', 'no checkpoint');
    throw new UserError('not_found', `build #${input.buildId} has no checkpoint${input.stage ? ` in stage "${input.stage}"` : ' waiting'}`);
  }
  if (input.decision !== 'timeout') {
    const reason = whyNot(deps, before, stage.checkpoint.approvers, input.actor);
    if (reason) {
      await audit('denied', reason);
      throw new UserError('forbidden', reason);
    }
  }

  let outcome: DecideOutcome = 'recorded';
  let alreadyDecided: Decision | undefined;
  const { build, changed } = await deps.store.update(input.buildId, (b) => {
    const s = findStage(b, stage.name);
    const state = s?.checkpointState;
    if (!s || !state || s.status !== 'waiting') {
      alreadyDecided = state?.decision;
      return null;
    }
    if (state.sha !== b.sha) return null;
    const now = nowIso();
    const decision: Decision = { actor: input.actor, decision: input.decision, at: now, source: input.source };
    const events: BuildEvent[] = [];
    if (input.decision === 'pass') {
      if (state.approvals.some((a) => a.actor.id === input.actor.id)) return null;
      state.approvals.push(decision);
      if (state.approvals.length < state.required) {
        outcome = 'recorded';
        return [];
      }
    }
    state.decision = decision;
    outcome = input.decision === 'pass' ? 'passed' : 'failed';
    events.push({ type: 'checkpoint.decided', buildId: b.id, stage: s.name, decision: input.decision, actor: input.actor });
    events.push(...setStageStatus(b, s, input.decision === 'pass' ? 'success' : 'failed', now));
    if (b.status === 'waiting' && !b.stages.some((x) => x.status === 'waiting')) events.push(...setBuildStatus(b, 'running', now));
    return events;
  });
  if (!changed) {
    const by = alreadyDecided ? ` by ${alreadyDecided.actor.name} at ${alreadyDecided.at}` : '';
    const already = build.stages.find((s) => s.name === stage.name)?.checkpointState?.approvals.some((a) => a.actor.id === input.actor.id);
    await audit('denied', alreadyDecided ? 'already decided' : 'not waiting');
    if (already && !alreadyDecided) throw new UserError('conflict', `you already approved; waiting for ${remaining(build, stage.name)} more`);
    throw new UserError('invalid_transition', `the checkpoint of ${stage.name} in build #${input.buildId} was already decided${by}`);
  }
  await audit('ok', outcome);
  if (outcome !== 'recorded') await releaseCheckpointLease(deps, build, stage.name);
  if (outcome !== 'recorded') await deps.queue.advance(input.buildId);
  return { build, outcome };
}

/** Why this actor may not decide, or null when they may. */
function whyNot(deps: Pick<PipelineDeps, 'config'>, build: Build, group: string, actor: Actor): string | null {
  if (actor.id === build.trigger.actor.id) return `${actor.name} started build #${build.id} and cannot approve it (no self-approval)`;
  const members = deps.config.groups[group] ?? [];
  if (!members.includes(actor.id)) return `${actor.name} is not in the approver group "${group}"`;
  return null;
}

function remaining(build: Build, stage: string): number {
  const st = build.stages.find((s) => s.name === stage)?.checkpointState;
  return st ? Math.max(st.required - st.approvals.length, 0) : 0;
}

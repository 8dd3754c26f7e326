import { findStage, type Build, type StageRun } from '../domain/build.js';
import { isTerminal } from '../domain/status.js';
import type { PipelineDeps } from './pipeline-deps.js';
import { finishStage } from './run-stage.js';
import { decideCheckpoint } from './decide-checkpoint.js';
import { routingLabels } from './step-placement.js';
import type { Executor } from '../executor/executor.js';
import { settleLostStage } from './settle-lost-stage.js';

/** What the watchdog asks of the queue about a stage's job. */
export interface StageJobInspector {
  stageJobState(buildId: string, stage: string, attempt: number, labels: string[]): Promise<string>;
  lastHeartbeat(buildId: string, stage: string): Promise<number | null>;
  /** How many workers are connected to the stage queue for these labels now. */
  workersFor(labels: string[]): Promise<number>;
}

const liveJobStates = new Set(['active', 'waiting', 'delayed', 'prioritized', 'waiting-children']);

/**
 * Finishes off what workers left behind, independently of them (R17, R20, R22):
 * - a stage `running` whose job is gone or failed and whose heartbeat stopped → its steps left
 *   running settled by what `executor` (when this process has one) says became of them
 *   (`settleLostStage`: a finished step keeps its real result; one still running is waited
 *   for), then the stage closed with that outcome (`failed_infra` when unknown);
 * - a stage `queued` whose job is gone → queued again (idempotent job id);
 * - a build `queued` with no plan and no recent change → advanced again;
 * - a build not finished whose stages are all past running (none queued, running or waiting)
 *   and none ended recently → advanced again (the advance after its last stage was lost);
 * - a stage `queued` for `limits.unassignedWarnSec` with no worker for its labels → a notice
 *   on the stage, once (`stage.notice` event: the thread and `status` say why it waits).
 * Returns what it did, for logs and tests.
 */
export async function watchdogPass(deps: PipelineDeps, jobs: StageJobInspector, staleMs: number, executor?: Executor): Promise<string[]> {
  const actions: string[] = [];
  for (const build of await deps.store.getMany(await deps.store.activeIds())) {
    if (!build || isTerminal(build.status)) continue;
    const id = build.id;
    if (build.stages.length === 0) {
      // Only a build stuck without a plan: re-advancing a fresh one races its first checkout.
      if (Date.now() - Date.parse(build.createdAt) >= staleMs) await deps.queue.advance(id);
      continue;
    }
    if (build.stages.every((s) => s.status !== 'running' && s.status !== 'queued' && s.status !== 'waiting')) {
      const lastEnd = Math.max(0, ...build.stages.map((s) => (s.finishedAt ? Date.parse(s.finishedAt) : 0)));
      if (Date.now() - lastEnd >= staleMs) {
        await deps.queue.advance(id);
        actions.push(`advanced ${id}`);
      }
      continue;
    }
    for (const stage of build.stages) {
      if (stage.status === 'waiting' && stage.checkpointState && Date.parse(stage.checkpointState.deadline) <= Date.now()) {
        await decideCheckpoint(deps, {
          buildId: id,
          stage: stage.name,
          decision: 'timeout',
          actor: { id: 'bosun', name: 'Bosun (timeout)' },
          source: 'watchdog',
        }).catch((err: unknown) => deps.log.warn({ err, buildId: id }, 'Timing out a checkpoint failed'));
        actions.push(`timed out ${id}/${stage.name}`);
        continue;
      }
      if (stage.status !== 'running' && stage.status !== 'queued') continue;
      // A running stage with a recent heartbeat is alive whatever its job's state: look no further.
      if (stage.status === 'running' && (await hasRecentHeartbeat(jobs, id, stage.name, staleMs))) continue;
      const labels = routingLabels(deps.config.swarm, stage.labels);
      const state = await jobs.stageJobState(id, stage.name, build.attempt, labels);
      if (stage.status === 'queued' && liveJobStates.has(state)) {
        if (await noticeUnassigned(deps, jobs, build, stage, labels)) actions.push(`noticed ${id}/${stage.name}`);
        continue;
      }
      if (liveJobStates.has(state)) continue;
      if (stage.status === 'queued') {
        await deps.queue.runStage(id, stage.name, build.attempt, labels);
        actions.push(`requeued ${id}/${stage.name}`);
        continue;
      }
      const current = await deps.store.get(id);
      if (!current || findStage(current, stage.name)?.status !== 'running') continue;
      const outcome = await settleLostStage(deps, executor, id, stage.name);
      if (outcome === 'wait') {
        actions.push(`waiting ${id}/${stage.name}`);
        continue;
      }
      await finishStage(deps, id, stage.name, outcome);
      await deps.queue.advance(id);
      deps.log.warn({ buildId: id, stage: stage.name, jobState: state, outcome }, 'Stage lost its worker; closed');
      actions.push(`${outcome === 'failed_infra' ? 'failed' : `settled ${outcome}`} ${id}/${stage.name}`);
    }
  }
  return actions;
}

/**
 * A queued stage that no worker can take (no `bosun worker --labels …` with its labels, or no
 * worker at all) would wait without a word: after `limits.unassignedWarnSec` it says so.
 */
async function noticeUnassigned(deps: PipelineDeps, jobs: StageJobInspector, build: Build, stage: StageRun, labels: string[]): Promise<boolean> {
  if (stage.notice) return false;
  const ready = [build.startedAt ?? build.createdAt, ...build.stages.filter((s) => stage.needs.includes(s.name)).map((s) => s.finishedAt ?? '')];
  const since = Math.max(...ready.map((t) => Date.parse(t) || 0));
  if (Date.now() - since < deps.config.limits.unassignedWarnSec * 1000) return false;
  if ((await jobs.workersFor(labels)) > 0) return false;
  const text =
    labels.length > 0
      ? `no worker with the labels ${labels.join(', ')} is running, so this stage waits; start one with \`bosun worker --labels ${labels.join(',')}\``
      : 'no worker is running, so this stage waits; start one with `bosun worker`';
  const { changed } = await deps.store.update(build.id, (b) => {
    const s = findStage(b, stage.name);
    if (!s || s.status !== 'queued' || s.notice) return null;
    s.notice = text;
    return [{ type: 'stage.notice', buildId: b.id, stage: s.name, text }];
  });
  if (changed) deps.log.warn({ buildId: build.id, stage: stage.name, labels }, 'Stage waits for a worker nobody runs');
  return changed;
}

async function hasRecentHeartbeat(jobs: StageJobInspector, buildId: string, stage: string, staleMs: number): Promise<boolean> {
  const beat = await jobs.lastHeartbeat(buildId, stage);
  return beat !== null && Date.now() - beat < staleMs;
}

export function startWatchdog(deps: PipelineDeps, jobs: StageJobInspector, intervalMs: number, executor?: Executor): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    watchdogPass(deps, jobs, Math.max(intervalMs * 3, 10_000), executor)
      .catch((err: unknown) => deps.log.warn({ err }, 'Watchdog pass failed'))
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

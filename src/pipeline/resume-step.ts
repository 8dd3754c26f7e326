import { findStep } from '../domain/build.js';
import { labelKeys } from '../executor/executor.js';
import type { WorkerDeps } from './pipeline-deps.js';
import { followStep, recordStep, stepLogWriter, timeoutSecOf, type RunStepInput, type StepResult } from './run-step.js';

/** What a step whose fate cannot be known records, and what its log says. */
export const unknownFateDetail = 'state unknown after a crash — retry it yourself';

/**
 * Settles a step an earlier worker left `running` (that worker died), without running it a
 * second time unless that is known to be safe. The executor is asked what became of it, by the
 * `executorRef` the step recorded when it started:
 * - it still runs, or it ended: it is re-attached; its log is read again from the engine from
 *   the first line, and its real outcome is recorded (never run again);
 * - its fate cannot be known (gone, the local executor, no ref recorded, another executor): what
 *   is left of it is removed; then it runs again only when its spec says `idempotent: true`,
 *   otherwise it ends `failed_infra` with "state unknown after a crash — retry it yourself".
 * Returns the step's result, or `runAgain` with the line its new log starts with.
 */
export async function resumeStep(deps: WorkerDeps, input: RunStepInput): Promise<StepResult | { runAgain: string }> {
  const { build, stage, step } = input;
  const current = findStep(build, stage, step);
  if (!current) throw new Error(`step ${stage}/${step} is not in build #${build.id}`);
  const log = deps.log.child({ buildId: build.id, stage, step, ref: current.executorRef });
  const ref = current.executor === deps.executor.name ? current.executorRef : undefined;

  let why = current.executorRef ? `its ${current.executor ?? ''} executor cannot be asked here` : 'it had not recorded where it ran';
  if (ref) {
    const fate = await deps.executor.inspectRef(ref);
    log.warn({ fate }, 'Step was running when its worker died; asking the executor what became of it');
    const handle = fate.state === 'gone' ? undefined : await deps.executor.reattach(ref, timeoutSecOf(deps, current.plan));
    if (handle) {
      // The engine kept the whole output: the log is written again from its first line.
      await deps.logs.reset(build.id, stage, step);
      const writer = stepLogWriter(deps, build.id, stage, step);
      const note =
        fate.state === 'running'
          ? 'bosun: the worker running this step died; the step ran on, and this log was read back from it (the step was not run again)'
          : 'bosun: the worker running this step died after the step ended; this log was read back from it (the step was not run again)';
      return followStep(deps, { buildId: build.id, stage, step, onStarted: input.onStarted }, handle, writer, [note]);
    }
    why = fate.detail ?? (fate.state === 'running' ? 'it still runs but cannot be followed from here' : 'it is gone');
    await deps.executor.destroyRef(ref).catch((err: unknown) => log.warn({ err }, 'Could not destroy the earlier run'));
  } else {
    // No ref to ask by: remove whatever of this step is left (by its labels) before deciding.
    await deps.executor
      .reap((l) => !(l[labelKeys.build] === build.id && l[labelKeys.stage] === stage && l[labelKeys.step] === step))
      .catch((err: unknown) => log.warn({ err }, 'Could not remove what is left of the earlier run'));
  }

  if (current.plan.idempotent) {
    log.warn({ why }, 'Step fate unknown after a crash; it is idempotent, running it again');
    return { runAgain: `bosun: the worker running this step died and what became of the step is unknown (${why}); it is marked idempotent, so it runs again` };
  }
  log.warn({ why }, 'Step fate unknown after a crash; failing it');
  await appendNote(
    deps,
    build.id,
    stage,
    step,
    `bosun: the worker running this step died and what became of the step is unknown (${why}); it was not run again: ${unknownFateDetail}, or mark it \`idempotent: true\``,
  );
  await deps.logs.finish(build.id, stage, step).catch((err: unknown) => log.warn({ err }, 'Archiving the step log failed'));
  await recordStep(deps, build.id, stage, step, 'failed_infra', { reason: 'worker_lost', detail: unknownFateDetail });
  return { status: 'failed_infra' };
}

/** Adds a line of Bosun's own after what the step's log already holds. */
async function appendNote(deps: WorkerDeps, buildId: string, stage: string, step: string, text: string): Promise<void> {
  const have = (await deps.logs.read(buildId, stage, step)).length;
  const lines = [text];
  await deps.logs.append(buildId, stage, step, have + 1, lines);
  await deps.bus.publish({ type: 'log.chunk', buildId, stage, step, lines, firstLine: have + 1 });
}

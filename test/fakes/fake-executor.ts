import type { Executor, ExecutorName, OutputChunk, StepFate, StepHandle, StepOutcome, StepSpec } from '../../src/executor/executor.js';
import { StepLifecycle } from '../../src/executor/step-lifecycle.js';

/** A step the fake executor knows by its ref: what `inspectRef` says, and its output. */
export interface ScriptedStep {
  fate: StepFate;
  stdout?: string;
}

/**
 * What a started step does, scripted by its step name (`step`) or `stage/step`:
 * - `stdout` / `stderr`: lines it writes, in that order (stdout first);
 * - `exitCode` (default 0) and `reason` (`oom`, `node_lost`, `unschedulable`): how it ends;
 * - `runMs`: how long it runs before it ends by itself (default 0); `hang`: it never ends by
 *   itself, only when stopped or timed out (`spec.timeoutSec`, as real executors enforce it);
 * - `startError`: `start` throws it (an image missing, an engine refusing).
 * A stopped or timed-out step exits 143 with reason `cancelled` or `timeout`.
 */
export interface ScriptedRun {
  stdout?: string[];
  stderr?: string[];
  exitCode?: number;
  reason?: 'oom' | 'node_lost' | 'unschedulable';
  runMs?: number;
  hang?: boolean;
  startError?: Error;
}

/**
 * An in-memory executor for pipeline tests, as Woodpecker's dummy backend: no processes, no
 * containers. `script(name, run)` says what a step does when started (unscripted steps write
 * nothing and exit 0); `steps` maps refs to what became of steps an earlier process started
 * (`inspectRef`, `reattach`). It records every call in `calls` (fakes that record, not mocks):
 * `start <stage>/<step>`, `stop <ref>`, `destroy <ref>`, `cleanupBuild <id>`, ….
 */
export class FakeExecutor implements Executor {
  readonly calls: string[] = [];
  readonly steps = new Map<string, ScriptedStep>();
  /** The specs `start` received, in order. */
  readonly started: StepSpec[] = [];
  readonly #scripts = new Map<string, ScriptedRun>();
  #seq = 0;

  constructor(readonly name: ExecutorName = 'docker') {}

  /** What the step `name` (`step` or `stage/step`; the longer wins) does when started. */
  script(name: string, run: ScriptedRun): this {
    this.#scripts.set(name, run);
    return this;
  }

  async start(spec: StepSpec): Promise<StepHandle> {
    const key = `${spec.stage}/${spec.step}`;
    this.calls.push(`start ${key}`);
    const run = this.#scripts.get(key) ?? this.#scripts.get(spec.step) ?? {};
    if (run.startError) throw run.startError;
    this.started.push(spec);
    const ref = `fake:${spec.buildId}:${key}:${++this.#seq}`;

    let finish!: (outcome: StepOutcome) => void;
    const ended = new Promise<StepOutcome>((resolve) => (finish = resolve));
    let selfTimer: NodeJS.Timeout | undefined;
    const life: StepLifecycle = new StepLifecycle(async () => {
      this.calls.push(`stop ${ref}`);
      if (life.done) return;
      life.end();
      clearTimeout(selfTimer);
      finish(life.withReason(143));
    });
    if (!run.hang) {
      selfTimer = setTimeout(() => {
        if (life.done) return;
        life.end();
        finish(run.reason ? { exitCode: run.exitCode ?? 137, reason: run.reason } : { exitCode: run.exitCode ?? 0 });
      }, run.runMs ?? 0);
    }
    life.armTimeout(spec.timeoutSec * 1000, 0);

    const chunks: OutputChunk[] = [
      ...(run.stdout ?? []).map((l) => ({ stream: 'stdout' as const, data: Buffer.from(`${l}\n`) })),
      ...(run.stderr ?? []).map((l) => ({ stream: 'stderr' as const, data: Buffer.from(`${l}\n`) })),
    ];
    return {
      ref,
      output: (async function* () {
        yield* chunks;
        await ended; // output ends after the step has ended
      })(),
      wait: () => ended,
      stop: (graceMs) => life.stop(graceMs),
      destroy: () =>
        life.destroyOnce(async () => {
          this.calls.push(`destroy ${ref}`);
          if (!life.done) {
            life.end();
            clearTimeout(selfTimer);
            finish(life.withReason(137));
          }
        }),
    };
  }

  async inspectRef(ref: string): Promise<StepFate> {
    this.calls.push(`inspect ${ref}`);
    return this.steps.get(ref)?.fate ?? { state: 'gone' };
  }

  async reattach(ref: string): Promise<StepHandle | undefined> {
    this.calls.push(`reattach ${ref}`);
    const step = this.steps.get(ref);
    if (!step || step.fate.state !== 'exited') return undefined;
    const outcome: StepOutcome = step.fate.reason ? { exitCode: step.fate.exitCode ?? -1, reason: step.fate.reason } : { exitCode: step.fate.exitCode ?? -1 };
    const chunks: OutputChunk[] = step.stdout ? [{ stream: 'stdout', data: Buffer.from(step.stdout) }] : [];
    return {
      ref,
      output: (async function* () {
        yield* chunks;
      })(),
      wait: async () => outcome,
      stop: async () => undefined,
      destroy: async () => void this.calls.push(`destroy ${ref}`),
    };
  }

  async destroyRef(ref: string): Promise<void> {
    this.calls.push(`destroyRef ${ref}`);
  }

  async reap(): Promise<string[]> {
    return [];
  }

  async reapBuilds(): Promise<string[]> {
    return [];
  }

  async cleanupBuild(buildId: string): Promise<void> {
    this.calls.push(`cleanupBuild ${buildId}`);
  }

  async close(): Promise<void> {}
}

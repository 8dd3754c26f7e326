import type { Executor, ExecutorName, OutputChunk, StepFate, StepHandle, StepOutcome } from '../../src/executor/executor.js';

/** A step the fake executor knows by its ref: what `inspectRef` says, and its output. */
export interface ScriptedStep {
  fate: StepFate;
  stdout?: string;
}

/**
 * An in-memory executor for pipeline tests, with scripted steps instead of processes: `steps`
 * maps refs to what became of them. It records every call in `calls` (fakes that record, not
 * mocks). `start` is not scripted: it throws.
 */
export class FakeExecutor implements Executor {
  readonly calls: string[] = [];
  readonly steps = new Map<string, ScriptedStep>();

  constructor(readonly name: ExecutorName = 'docker') {}

  async start(): Promise<StepHandle> {
    throw new Error('FakeExecutor.start is not scripted');
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

  async cleanupBuild(): Promise<void> {}

  async close(): Promise<void> {}
}

import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import type { OutputChunk, StepHandle, StepOutcome } from '../executor.js';
import { OutputQueue } from '../output-queue.js';
import { stepScript } from '../step-script.js';
import { formatLocalRef, processStartTime, signalGroup } from './local-ref.js';

interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface LocalStepOptions {
  commands: readonly string[];
  /** Script lines run before the commands, not echoed (secrets' env forms). */
  preamble?: string;
  cwd: string;
  env: Record<string, string>;
  timeoutSec: number;
  /** Grace between SIGTERM and SIGKILL when the timeout fires. */
  timeoutGraceMs: number;
  /** Called once when the step is destroyed (registry entry, HOME dir). */
  onDestroy: () => Promise<void>;
}

/**
 * One local step: `/bin/sh -e -c <script>` leading its own process group. The group is the
 * unit of stop, timeout and destroy, so children of the script die with it. When the shell
 * exits, whatever it left running in its group is killed, so the output always ends.
 */
export class LocalStep implements StepHandle {
  readonly ref: string;
  readonly output: AsyncIterable<OutputChunk>;
  readonly #pgid: number;
  readonly #exited: Promise<StepOutcome>;
  readonly #timer: NodeJS.Timeout;
  readonly #onDestroy: () => Promise<void>;
  #reason: StepOutcome['reason'];
  #done = false;
  #destroying: Promise<void> | undefined;

  private constructor(child: ChildProcess, ref: string, queue: OutputQueue, exit: Promise<ExitStatus>, opts: LocalStepOptions) {
    this.#pgid = child.pid!;
    this.ref = ref;
    this.output = queue;
    this.#onDestroy = opts.onDestroy;
    this.#exited = exit.then(({ code, signal }) => {
      this.#done = true;
      clearTimeout(this.#timer);
      signalGroup(this.#pgid, 'SIGKILL');
      return this.#outcome(code, signal);
    });
    this.#timer = setTimeout(() => {
      this.#reason ??= 'timeout';
      void this.#terminate(opts.timeoutGraceMs);
    }, opts.timeoutSec * 1000);
  }

  /** Spawn the step; resolves once the process exists (rejects if it could not start). */
  static async spawn(opts: LocalStepOptions): Promise<LocalStep> {
    const child = spawn('/bin/sh', ['-e', '-c', stepScript(opts.commands, undefined, opts.preamble)], {
      cwd: opts.cwd,
      env: opts.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exit = new Promise<ExitStatus>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    const queue = new OutputQueue();
    pipeOutput(child, queue);
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    const pid = child.pid!;
    const ref = formatLocalRef({ pid, pgid: pid, startTime: (await processStartTime(pid)) ?? '0' });
    return new LocalStep(child, ref, queue, exit, opts);
  }

  wait(): Promise<StepOutcome> {
    return this.#exited;
  }

  async stop(graceMs: number): Promise<void> {
    if (this.#done) return;
    this.#reason ??= 'cancelled';
    await this.#terminate(graceMs);
  }

  destroy(): Promise<void> {
    this.#destroying ??= this.#destroy();
    return this.#destroying;
  }

  async #destroy(): Promise<void> {
    clearTimeout(this.#timer);
    if (!this.#done) signalGroup(this.#pgid, 'SIGKILL');
    await this.#exited;
    await this.#onDestroy();
  }

  async #terminate(graceMs: number): Promise<void> {
    if (this.#done) return;
    signalGroup(this.#pgid, 'SIGTERM');
    const kill = setTimeout(() => signalGroup(this.#pgid, 'SIGKILL'), graceMs);
    await this.#exited;
    clearTimeout(kill);
  }

  #outcome(code: number | null, signal: NodeJS.Signals | null): StepOutcome {
    const exitCode = code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
    return this.#reason ? { exitCode, reason: this.#reason } : { exitCode };
  }
}

function pipeOutput(child: ChildProcess, queue: OutputQueue): void {
  let open = 2;
  const closed = (): void => {
    open -= 1;
    if (open === 0) queue.end();
  };
  for (const stream of ['stdout', 'stderr'] as const) {
    const readable = child[stream]!;
    queue.addSource(readable);
    readable.on('data', (data: Buffer) => queue.push(stream, data));
    readable.once('close', closed);
    readable.once('error', (err) => queue.fail(err));
  }
}

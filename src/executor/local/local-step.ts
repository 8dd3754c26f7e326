import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import type { OutputChunk, StepHandle, StepOutcome } from '../executor.js';
import { OutputQueue } from '../output-queue.js';
import { StepLifecycle } from '../step-lifecycle.js';
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
  /** Path of util-linux `setpriv`, to have the step's group leader told when its worker dies. */
  setpriv?: string | undefined;
}

/**
 * The step's group leader: runs the step's script in the background and exits with its status.
 * `HUP` is its parent-death signal (set by `setpriv --pdeathsig`): it then kills its whole
 * process group, so no step process outlives a killed worker. A `TERM` (stop, timeout) reaches
 * every process of the group directly; the leader only keeps waiting for the script's status.
 * A wait a trap interrupted is repeated while the script (or its zombie) is still there.
 */
const leaderScript = [
  "trap 'kill -KILL 0' HUP",
  'trap : TERM',
  '/bin/sh -e -c "$1" &',
  'c=$!',
  'while :; do wait "$c"; s=$?; kill -0 "$c" 2>/dev/null || break; done',
  'exit "$s"',
].join('\n');

/**
 * One local step: `/bin/sh -e -c <script>` under a small leader shell (`leaderScript`) that
 * leads its own process group. The group is the unit of stop, timeout and destroy, so children
 * of the script die with it. When the leader exits, whatever is left running in its group is
 * killed, so the output always ends. With `setpriv`, the group also dies with its worker.
 */
export class LocalStep implements StepHandle {
  readonly ref: string;
  readonly output: AsyncIterable<OutputChunk>;
  readonly #pgid: number;
  readonly #exited: Promise<StepOutcome>;
  readonly #onDestroy: () => Promise<void>;
  readonly #life: StepLifecycle;

  private constructor(child: ChildProcess, ref: string, queue: OutputQueue, exit: Promise<ExitStatus>, opts: LocalStepOptions) {
    this.#pgid = child.pid!;
    this.ref = ref;
    this.output = queue;
    this.#onDestroy = opts.onDestroy;
    this.#life = new StepLifecycle((graceMs) => this.#terminate(graceMs));
    this.#exited = exit.then(({ code, signal }) => {
      this.#life.end();
      signalGroup(this.#pgid, 'SIGKILL');
      return this.#life.withReason(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
    this.#life.armTimeout(opts.timeoutSec * 1000, opts.timeoutGraceMs);
  }

  /** Spawn the step; resolves once the process exists (rejects if it could not start). */
  static async spawn(opts: LocalStepOptions): Promise<LocalStep> {
    const leader = ['/bin/sh', '-c', leaderScript, 'bosun-step', stepScript(opts.commands, undefined, opts.preamble)];
    const [file, ...args] = opts.setpriv ? [opts.setpriv, '--pdeathsig', 'HUP', '--', ...leader] : leader;
    const child = spawn(file!, args, {
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

  stop(graceMs: number): Promise<void> {
    return this.#life.stop(graceMs);
  }

  destroy(): Promise<void> {
    return this.#life.destroyOnce(async () => {
      if (!this.#life.done) signalGroup(this.#pgid, 'SIGKILL');
      await this.#exited;
      await this.#onDestroy();
    });
  }

  async #terminate(graceMs: number): Promise<void> {
    if (this.#life.done) return;
    signalGroup(this.#pgid, 'SIGTERM');
    const kill = setTimeout(() => signalGroup(this.#pgid, 'SIGKILL'), graceMs);
    await this.#exited;
    clearTimeout(kill);
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

import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { InfraError } from '../../errors.js';
import type { OutputChunk, StepHandle, StepOutcome } from '../executor.js';
import { OutputQueue } from '../output-queue.js';
import { StepLifecycle } from '../step-lifecycle.js';
import { Demuxer, pipeAttached } from './demuxer.js';
import { stepUser } from './isolation.js';
import type { Sandbox } from './sandbox-pool.js';
import { cleanStepScript, parseOomKills, parseStepReport, signalStepScript, stepWithCleaningScript, type StepReport } from './sandbox-script.js';
import { StepReportFilter } from './step-report-filter.js';

/** What one step runs in a sandbox. */
export interface SandboxRun {
  /** The step's script for `/bin/sh -e -c` (`stepScript`). */
  script: string;
  /** `KEY=value` pairs (the container's own env holds only HOME). */
  env: string[];
  /** Absolute working directory inside the sandbox. */
  workdir: string;
  /** Written to the step's stdin, which then ends (`secretsPayload`); absent: no stdin. */
  stdin?: Buffer;
}

export interface SandboxStepOptions {
  timeoutSec: number;
  timeoutGraceMs: number;
  /** Called once the step ended and the sandbox was cleaned (`healthy`) or could not be. */
  release(sandbox: Sandbox, healthy: boolean): Promise<void>;
  /** Called once `destroy` has finished. */
  onDestroyed?(): void;
}

/** The ref of a step exec'd in a sandbox: `sandbox:<containerId>:<execId>`. */
export function sandboxRef(containerId: string, execId: string): string {
  return `sandbox:${containerId}:${execId}`;
}

/** The container and exec behind a `sandbox:` ref; undefined for any other ref. */
export function parseSandboxRef(ref: string): { containerId: string; execId: string } | undefined {
  const match = /^sandbox:([0-9a-f]+):([0-9a-f]+)$/.exec(ref);
  return match ? { containerId: match[1]!, execId: match[2]! } : undefined;
}

/**
 * One step exec'd in a stage sandbox as the step user, with its own env and workdir, its output
 * attached (stdout and stderr demultiplexed), its exit code from the exec's inspect.
 * - The step ends when its process exits: the engine then closes the output (at most ~2 s
 *   later even when a process the step left holds it open; the exec is polled once a second
 *   meanwhile).
 * - Then the sandbox is cleaned as the step user (what the step left running is killed, /tmp,
 *   HOME and the secrets directory emptied) and given back; a sandbox that cannot be cleaned is
 *   removed. The cleaning is folded into the step's own exec (`stepWithCleaningScript`: one
 *   exec per step), whose report line (after a per-step random marker) is taken out of the
 *   step's stderr; when that report is missing or not exactly one well-formed line for the
 *   step's exit code (the wrapper was killed, the output was lost), `cleanStepScript` runs in an
 *   exec of its own, as before. An OOM kill in the sandbox's memory cgroup during the step
 *   (its counter went up) makes a failed step's reason `oom`.
 * - `stop(grace)` and the timeout: SIGTERM to every process of the step user in the sandbox,
 *   SIGKILL after the grace. Should a signal not get through, the sandbox is removed.
 * - `destroy()`: kills the step if it still runs, waits for its end, ends the output.
 */
export class SandboxStep implements StepHandle {
  readonly ref: string;
  readonly where: string;
  readonly output: AsyncIterable<OutputChunk>;
  readonly #sandbox: Sandbox;
  readonly #exec: Docker.Exec;
  readonly #stream: NodeJS.ReadWriteStream;
  readonly #queue: OutputQueue;
  readonly #life: StepLifecycle;
  readonly #outcome: Promise<StepOutcome>;
  readonly #streamEnded: Promise<void>;
  readonly #opts: SandboxStepOptions;
  readonly #reports: StepReportFilter;
  #outputEnded = false;
  #broken = false;

  private constructor(sandbox: Sandbox, exec: Docker.Exec, stream: NodeJS.ReadWriteStream, marker: string, opts: SandboxStepOptions) {
    this.#sandbox = sandbox;
    this.#exec = exec;
    this.#stream = stream;
    this.#opts = opts;
    this.ref = sandboxRef(sandbox.id, exec.id);
    this.where = sandbox.where;
    this.#queue = new OutputQueue();
    this.output = this.#queue;
    this.#streamEnded = new Promise<void>((resolve) => {
      stream.once('end', resolve);
      stream.once('close', resolve);
      stream.once('error', () => resolve());
    });
    const queue = this.#queue;
    const reports = new StepReportFilter(marker, (data) => queue.push('stderr', data));
    this.#reports = reports;
    pipeAttached(stream, queue, {
      stderr: (data) => reports.write(data),
      ended: () => {
        this.#outputEnded = true;
        reports.end();
      },
    });
    this.#life = new StepLifecycle((graceMs) => this.#terminate(graceMs));
    this.#life.armTimeout(opts.timeoutSec * 1000, opts.timeoutGraceMs);
    this.#outcome = this.#waitExit().then((o) => (sandbox.node ? { ...o, node: sandbox.node } : o));
    this.#outcome.catch(() => undefined);
  }

  /** Execs `run` in `sandbox`; throws (the sandbox untouched) when the engine refuses the exec. */
  static async start(sandbox: Sandbox, run: SandboxRun, opts: SandboxStepOptions): Promise<SandboxStep> {
    const withStdin = run.stdin !== undefined;
    // Per step and unguessable: a step's output cannot contain it by chance, nor an earlier step's process know it.
    const marker = `bosun-step-report-${randomBytes(16).toString('hex')}:`;
    const exec = await sandbox.container.exec({
      Cmd: stepWithCleaningScript(run.script, marker),
      Env: run.env,
      User: stepUser,
      WorkingDir: run.workdir,
      AttachStdin: withStdin,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
    });
    const stream = (await exec.start({ hijack: true, stdin: withStdin, Tty: false })) as NodeJS.ReadWriteStream;
    const step = new SandboxStep(sandbox, exec, stream, marker, opts);
    if (run.stdin) await writeAndClose(stream, run.stdin).catch(() => undefined);
    return step;
  }

  wait(): Promise<StepOutcome> {
    return this.#outcome;
  }

  stop(graceMs: number): Promise<void> {
    return this.#life.stop(graceMs);
  }

  destroy(): Promise<void> {
    return this.#life.destroyOnce(async () => {
      if (!this.#life.done) await this.#killUntilEnded();
      await this.#outcome.catch(() => undefined);
      (this.#stream as NodeJS.ReadWriteStream & { destroy?: () => void }).destroy?.();
      this.#endOutput();
      this.#opts.onDestroyed?.();
    });
  }

  async #terminate(graceMs: number): Promise<void> {
    if (this.#life.done) return;
    await this.#signal('TERM');
    const ended = await settlesWithin(this.#outcome, graceMs);
    if (!ended) await this.#killUntilEnded();
    await this.#outcome.catch(() => undefined);
  }

  /**
   * SIGKILL until the step has ended. The engine answers `exec start` before it has spawned the
   * exec's process, so a signal sent right after the start can reach nothing and the step would
   * then run on (seen in CI: a `sleep 300` destroyed at once outlived its test). Each try waits up
   * to 2 s for the end; after 5 the sandbox is removed, which ends the step for certain.
   */
  async #killUntilEnded(): Promise<void> {
    for (let i = 0; i < 5 && !this.#broken; i += 1) {
      await this.#signal('KILL');
      if (await settlesWithin(this.#outcome, 2000)) return;
    }
    if (this.#broken) return;
    this.#broken = true;
    await this.#sandbox.remove().catch(() => undefined);
  }

  /** Signals every process of the step user; when that fails, removes the sandbox (which ends the step). */
  async #signal(signal: 'TERM' | 'KILL'): Promise<void> {
    try {
      const { exitCode } = await runInSandbox(this.#sandbox.container, signalStepScript(signal), 15_000);
      if (exitCode !== 0) throw new Error(`kill exited ${exitCode}`);
    } catch {
      this.#broken = true;
      await this.#sandbox.remove().catch(() => undefined);
    }
  }

  async #waitExit(): Promise<StepOutcome> {
    let info: { Running: boolean; ExitCode: number | null };
    try {
      for (;;) {
        const ended = await Promise.race([this.#streamEnded.then(() => true), sleep(1000).then(() => false)]);
        info = (await this.#exec.inspect()) as { Running: boolean; ExitCode: number | null };
        // Not running and no exit code while its output is still open: not spawned yet (under load).
        if (!info.Running && (info.ExitCode !== null || ended)) break;
        if (ended) await sleep(50);
      }
    } catch (err) {
      this.#life.end();
      this.#broken = true;
      await this.#opts.release(this.#sandbox, false).catch(() => undefined);
      if (this.#life.destroying || this.#life.reason) return { exitCode: 137, reason: this.#life.reason ?? 'cancelled' };
      throw new InfraError('executor', `lost track of step exec ${this.#exec.id} in sandbox ${this.#sandbox.id}: ${String(err)}`, { cause: err });
    }
    this.#life.end();
    const exitCode = info.ExitCode ?? -1;
    // The wrapper ends once it has cleaned (what the step left holding the output is killed): the output ends with it.
    await Promise.race([this.#streamEnded, sleep(1000)]);
    let clean: { exitCode: number; oomKills: number | undefined } | undefined;
    const report = this.#report(exitCode);
    if (report) clean = { exitCode: report.clean, oomKills: report.oomKills };
    else {
      // No report: a process the step left behind may hold the output open; the cleaning kills it.
      const ran = await runInSandbox(this.#sandbox.container, cleanStepScript(), 30_000).catch(() => undefined);
      if (ran) clean = { exitCode: ran.exitCode, oomKills: parseOomKills(ran.stdout) };
      await Promise.race([this.#streamEnded, sleep(3000)]);
    }
    if (!this.#queue.ended) (this.#stream as NodeJS.ReadWriteStream & { destroy?: () => void }).destroy?.();
    const healthy = !this.#broken && clean?.exitCode === 0;
    const before = this.#sandbox.oomKills;
    const after = clean?.oomKills;
    if (after !== undefined) this.#sandbox.oomKills = after;
    let oom = before !== undefined && after !== undefined && after > before;
    if (!clean && exitCode !== 0) oom = await this.#containerOomKilled();
    await this.#opts.release(this.#sandbox, healthy).catch(() => undefined);
    if (!this.#life.reason && exitCode !== 0 && oom) return { exitCode, reason: 'oom' };
    return this.#life.withReason(exitCode);
  }

  /**
   * The wrapper's report, when it can be trusted: the output has ended, it holds exactly one
   * whole, well-formed report line, and that line's exit code is the exec's (a wrapper killed
   * after reporting, or a report printed by the step itself, fall back to the cleaning exec).
   */
  #report(exitCode: number): StepReport | undefined {
    if (!this.#outputEnded || this.#reports.truncated || this.#reports.reports.length !== 1) return undefined;
    const report = parseStepReport(this.#reports.reports[0]!);
    return report && report.exitCode === exitCode ? report : undefined;
  }

  /** The output ends: a held tail of stderr that was not a report marker is passed on first. Idempotent. */
  #endOutput(): void {
    this.#outputEnded = true;
    this.#reports.end();
    this.#queue.end();
  }

  async #containerOomKilled(): Promise<boolean> {
    try {
      return (await this.#sandbox.container.inspect()).State.OOMKilled === true;
    } catch {
      return false;
    }
  }
}

/** Runs `cmd` in the sandbox as the step user and collects its output (bounded by `timeoutMs`). */
export async function runInSandbox(
  container: Docker.Container,
  cmd: string[],
  timeoutMs: number,
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const exec = await container.exec({ Cmd: cmd, User: stepUser, AttachStdout: true, AttachStderr: true, Tty: false });
  const stream = (await exec.start({ hijack: true, stdin: false, Tty: false })) as NodeJS.ReadableStream & { destroy?: () => void };
  const parts = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  const demuxer = new Demuxer((which, data) => parts[which].push(Buffer.from(data)));
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no end within ${timeoutMs} ms`)), timeoutMs);
      stream.on('data', (chunk: Buffer) => demuxer.write(chunk));
      stream.once('end', resolve);
      stream.once('close', resolve);
      stream.once('error', reject);
    });
  } finally {
    clearTimeout(timer);
    stream.destroy?.();
  }
  let info = (await exec.inspect()) as { Running: boolean; ExitCode: number | null };
  for (let i = 0; info.Running && i < 50; i += 1) {
    await sleep(20);
    info = (await exec.inspect()) as { Running: boolean; ExitCode: number | null };
  }
  return { exitCode: info.ExitCode ?? -1, stdout: Buffer.concat(parts.stdout).toString(), stderr: Buffer.concat(parts.stderr).toString() };
}

/** Write the payload to the exec's stream and half-close it: the step's stdin then ends. */
function writeAndClose(stream: NodeJS.ReadWriteStream, payload: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.once('error', reject);
    stream.end(payload, () => {
      stream.off('error', reject);
      resolve();
    });
  });
}

/** True when `promise` settles (either way) within `ms`. */
function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    sleep(ms).then(() => false),
  ]);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

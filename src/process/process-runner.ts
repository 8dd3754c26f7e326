import { spawn, type ChildProcess } from 'node:child_process';
import { InfraError } from '../errors.js';

export interface RunOptions {
  cwd?: string | undefined;
  env: Record<string, string>;
  timeoutMs: number;
  maxBuffer: number;
  /** Written to the command's stdin, which is then closed (e.g. a batch for `iptables-restore`). Without it stdin is left open, as `execFile` leaves it. */
  input?: string | undefined;
}

/** Like `execFile`'s error: the message, and the output the command wrote before it failed. */
export class RunError extends Error {
  constructor(
    message: string,
    readonly stdout: string,
    readonly stderr: string,
    readonly code: number | string | null,
  ) {
    super(message);
  }
}

interface Reply {
  id: number;
  ok: boolean;
  message?: string;
  code?: number | string | null;
  stdout: string;
  stderr: string;
}

/**
 * The helper: a plain Node process (no tsx, no app code loaded, ~40 MiB) that runs each
 * request with `execFile` (never a shell) and answers over IPC. It exits when its parent goes.
 */
const helperSource = `
import { execFile } from 'node:child_process';
process.on('message', (m) => {
  const child = execFile(m.file, m.args, { cwd: m.cwd, env: m.env, timeout: m.timeoutMs, maxBuffer: m.maxBuffer, encoding: 'utf8' }, (err, stdout, stderr) => {
    process.send({ id: m.id, ok: !err, message: err ? err.message : undefined, code: err ? (err.code ?? null) : 0, stdout: String(stdout), stderr: String(stderr) });
  });
  if (typeof m.input === 'string' && child.stdin) {
    child.stdin.on('error', () => undefined); // a command that exits without reading: its exit code tells
    child.stdin.end(m.input);
  }
});
process.on('disconnect', () => process.exit(0));
`;

/**
 * Runs short commands (git, iptables) from a small, long-lived helper process instead of forking this
 * one: a fork costs the forking process in proportion to its memory (~12 ms of CPU at this
 * process's ~170 MiB, ~3 ms in the helper), and a build runs several git commands.
 *
 * Contract:
 * - `run(file, args, opts)` resolves with the command's stdout and stderr, or rejects with a
 *   `RunError` (non-zero exit, timeout, output over `maxBuffer`), as `execFile` would. No shell.
 *   `opts.input`, when given, is written to the command's stdin, which is then closed.
 * - The helper starts on first use. If it dies, the requests in flight reject with an
 *   `InfraError` (retryable) and the next request starts a new helper.
 * - Idle, it holds no reference on the event loop; `close()` ends it.
 * - Concurrency: any number of requests at once; they run concurrently in the helper.
 */
export class ProcessRunner {
  #child: ChildProcess | undefined;
  readonly #pending = new Map<number, { resolve: (r: { stdout: string; stderr: string }) => void; reject: (e: Error) => void }>();
  #nextId = 1;

  /** The helper's process id while it runs (its CPU is not in this process's `cpuUsage`). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  run(file: string, args: string[], opts: RunOptions): Promise<{ stdout: string; stderr: string }> {
    const child = this.#helper();
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#hold();
      child.send({ id, file, args, cwd: opts.cwd, env: opts.env, timeoutMs: opts.timeoutMs, maxBuffer: opts.maxBuffer, input: opts.input }, (err) => {
        if (err) this.#settle(id, () => new InfraError('infra', `could not hand ${file} to the process helper: ${err.message}`, { cause: err }));
      });
    });
  }

  close(): void {
    this.#child?.disconnect();
    this.#child = undefined;
  }

  #helper(): ChildProcess {
    if (this.#child) return this.#child;
    const child = spawn(process.execPath, ['--input-type=module', '--eval', helperSource], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      serialization: 'json',
    });
    child.on('message', (reply: Reply) => {
      this.#settle(
        reply.id,
        reply.ok ? undefined : () => new RunError(reply.message ?? 'command failed', reply.stdout, reply.stderr, reply.code ?? null),
        reply,
      );
    });
    const lost = (why: string) => {
      if (this.#child === child) this.#child = undefined;
      for (const id of [...this.#pending.keys()]) this.#settle(id, () => new InfraError('infra', `the process helper ${why}`));
    };
    child.on('exit', (code, signal) => lost(`exited (${signal ?? code})`));
    child.on('error', (err) => lost(`failed: ${err.message}`));
    this.#child = child;
    this.#release();
    return child;
  }

  #settle(id: number, error: (() => Error) | undefined, reply?: Reply): void {
    const waiter = this.#pending.get(id);
    if (!waiter) return;
    this.#pending.delete(id);
    if (error) waiter.reject(error());
    else waiter.resolve({ stdout: reply?.stdout ?? '', stderr: reply?.stderr ?? '' });
    if (this.#pending.size === 0) this.#release();
  }

  /** While requests are in flight the helper (and its IPC channel) keeps this process alive; idle, it does not. */
  #hold(): void {
    this.#child?.ref();
    (this.#child?.channel as { ref?: () => void } | undefined)?.ref?.();
  }

  #release(): void {
    this.#child?.unref();
    (this.#child?.channel as { unref?: () => void } | undefined)?.unref?.();
  }
}

import type Docker from 'dockerode';
import { InfraError } from '../../errors.js';
import type { OutputChunk, StepHandle, StepOutcome } from '../executor.js';
import { OutputQueue } from '../output-queue.js';
import { Demuxer } from '../container/demuxer.js';
import { ignoreNotFound } from '../container/docker-errors.js';

/**
 * One step as a plain container. The output comes from an attach made before start (so
 * nothing is missed), demuxed into tagged chunks; the outcome from `wait` plus `OOMKilled`.
 * `stop` is `docker stop` (SIGTERM to the init, SIGKILL after the grace, rounded up to whole
 * seconds); the timeout does the same with the executor's grace.
 */
export class DockerStep implements StepHandle {
  readonly ref: string;
  readonly output: AsyncIterable<OutputChunk>;
  readonly #container: Docker.Container;
  readonly #outcome: Promise<StepOutcome>;
  readonly #opts: { timeoutSec: number; timeoutGraceMs: number };
  #resolveStarted: (started: boolean) => void = () => undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #attached: NodeJS.ReadableStream;
  readonly #queue: OutputQueue;
  #reason: StepOutcome['reason'];
  #done = false;
  #destroying: Promise<void> | undefined;

  constructor(container: Docker.Container, attached: NodeJS.ReadableStream, opts: { timeoutSec: number; timeoutGraceMs: number }) {
    this.#container = container;
    this.ref = `docker:${container.id}`;
    const queue = new OutputQueue();
    this.output = queue;
    this.#queue = queue;
    this.#attached = attached;
    this.#opts = opts;
    pipeAttached(attached, queue);
    const started = new Promise<boolean>((resolve) => (this.#resolveStarted = resolve));
    this.#outcome = started.then((ok) => (ok ? this.#waitExit() : { exitCode: -1, reason: 'cancelled' as const }));
    this.#outcome.catch(() => undefined);
  }

  /** Call once the container has started: begins waiting for its exit and the timeout. */
  started(): void {
    this.#timer = setTimeout(() => {
      this.#reason ??= 'timeout';
      void this.#terminate(this.#opts.timeoutGraceMs).catch(() => undefined);
    }, this.#opts.timeoutSec * 1000);
    this.#resolveStarted(true);
  }

  wait(): Promise<StepOutcome> {
    return this.#outcome;
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
    this.#resolveStarted(false);
    await ignoreNotFound(() => this.#container.remove({ force: true }));
    await this.#outcome.catch(() => undefined);
    (this.#attached as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
    this.#queue.end();
  }

  async #terminate(graceMs: number): Promise<void> {
    if (this.#done) return;
    await ignoreNotFound(() => this.#container.stop({ t: Math.max(1, Math.ceil(graceMs / 1000)) })).catch((err: unknown) => {
      if ((err as { statusCode?: number }).statusCode !== 304) throw err;
    });
    await this.#outcome.catch(() => undefined);
  }

  async #oomKilled(): Promise<boolean> {
    const info = await this.#container.inspect();
    return info.State.OOMKilled === true;
  }

  async #waitExit(): Promise<StepOutcome> {
    try {
      const result = (await this.#container.wait()) as { StatusCode?: number };
      this.#done = true;
      clearTimeout(this.#timer);
      const exitCode = result.StatusCode ?? -1;
      const reason = this.#reason ?? (exitCode !== 0 && (await this.#oomKilled()) ? 'oom' : undefined);
      return reason ? { exitCode, reason } : { exitCode };
    } catch (err) {
      this.#done = true;
      clearTimeout(this.#timer);
      if (this.#destroying) return { exitCode: 137, reason: this.#reason ?? 'cancelled' };
      throw new InfraError('executor', `lost track of container ${this.#container.id}: ${String(err)}`, { cause: err });
    }
  }
}

/** The attach stream ends by itself once the container has exited; the output ends with it. */
function pipeAttached(attached: NodeJS.ReadableStream, queue: OutputQueue): void {
  const demuxer = new Demuxer((stream, data) => queue.push(stream, data));
  queue.addSource(attached);
  attached.on('data', (chunk: Buffer) => demuxer.write(chunk));
  attached.once('end', () => queue.end());
  attached.once('close', () => queue.end());
  attached.once('error', (err) => queue.fail(err));
}

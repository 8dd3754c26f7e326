import type Docker from 'dockerode';
import { InfraError } from '../../errors.js';
import type { OutputChunk, StepHandle, StepOutcome } from '../executor.js';
import { OutputQueue } from '../output-queue.js';
import { StepLifecycle } from '../step-lifecycle.js';
import { pipeAttached } from '../container/demuxer.js';
import { ignoreNotFound } from '../container/docker-errors.js';
import { TaskLog, containerLog } from '../swarm/task-log.js';

/** Where a step container's output comes from, and what ends it. */
interface OutputSource {
  /** Called once the container has exited, before the outcome is given. */
  afterExit(): Promise<void>;
  /** Stop reading (destroy). */
  close(): void;
}

/**
 * One step as a plain container. The outcome comes from `wait` plus `OOMKilled`.
 * - `attached`: a container this process creates; its output from an attach made before start
 *   (so nothing is missed), demuxed into tagged chunks. Call `started()` once it runs.
 * - `reattached`: a container an earlier process started (resume after a crash); its output is
 *   its log read again from the first line (followed while it runs, completed once it exited).
 * `stop` is `docker stop` (SIGTERM to the init, SIGKILL after the grace, rounded up to whole
 * seconds); the timeout does the same with the executor's grace.
 */
export class DockerStep implements StepHandle {
  readonly ref: string;
  readonly output: AsyncIterable<OutputChunk>;
  readonly #container: Docker.Container;
  readonly #outcome: Promise<StepOutcome>;
  readonly #life: StepLifecycle;
  readonly #source: OutputSource;
  readonly #queue: OutputQueue;
  readonly #timeoutMs: number;
  readonly #graceMs: number;
  #resolveStarted: (started: boolean) => void = () => undefined;

  private constructor(container: Docker.Container, queue: OutputQueue, source: OutputSource, opts: { timeoutMs: number; timeoutGraceMs: number }) {
    this.#container = container;
    this.ref = `docker:${container.id}`;
    this.output = queue;
    this.#queue = queue;
    this.#source = source;
    this.#timeoutMs = opts.timeoutMs;
    this.#graceMs = opts.timeoutGraceMs;
    this.#life = new StepLifecycle((graceMs) => this.#terminate(graceMs));
    const started = new Promise<boolean>((resolve) => (this.#resolveStarted = resolve));
    this.#outcome = started.then((ok) => (ok ? this.#waitExit() : { exitCode: -1, reason: 'cancelled' as const }));
    this.#outcome.catch(() => undefined);
  }

  /** A container this process created: output from `attached` (an attach made before start). */
  static attached(container: Docker.Container, attached: NodeJS.ReadableStream, opts: { timeoutSec: number; timeoutGraceMs: number }): DockerStep {
    const queue = new OutputQueue();
    pipeAttached(attached, queue);
    const source: OutputSource = {
      afterExit: async () => undefined,
      close: () => {
        (attached as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
        queue.end();
      },
    };
    return new DockerStep(container, queue, source, { timeoutMs: opts.timeoutSec * 1000, timeoutGraceMs: opts.timeoutGraceMs });
  }

  /**
   * A container an earlier process started: its whole log read again, followed while it runs.
   * `remainingMs`: what is left of its timeout.
   */
  static reattached(docker: Docker, container: Docker.Container, opts: { running: boolean; remainingMs: number; timeoutGraceMs: number }): DockerStep {
    const queue = new OutputQueue();
    const log = new TaskLog(queue);
    const source = containerLog(docker, container.id);
    if (opts.running) log.follow(source);
    const step = new DockerStep(
      container,
      queue,
      { afterExit: () => log.finish(source), close: () => log.abort() },
      { timeoutMs: opts.remainingMs, timeoutGraceMs: opts.timeoutGraceMs },
    );
    step.started();
    return step;
  }

  /** Call once the container has started: begins waiting for its exit and the timeout. */
  started(): void {
    this.#life.armTimeout(this.#timeoutMs, this.#graceMs);
    this.#resolveStarted(true);
  }

  wait(): Promise<StepOutcome> {
    return this.#outcome;
  }

  stop(graceMs: number): Promise<void> {
    return this.#life.stop(graceMs);
  }

  destroy(): Promise<void> {
    return this.#life.destroyOnce(async () => {
      this.#resolveStarted(false);
      await ignoreNotFound(() => this.#container.remove({ force: true }));
      await this.#outcome.catch(() => undefined);
      this.#source.close();
      this.#queue.end();
    });
  }

  async #terminate(graceMs: number): Promise<void> {
    if (this.#life.done) return;
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
      this.#life.end();
      const exitCode = result.StatusCode ?? -1;
      await this.#source.afterExit();
      if (!this.#life.reason && exitCode !== 0 && (await this.#oomKilled())) return { exitCode, reason: 'oom' };
      return this.#life.withReason(exitCode);
    } catch (err) {
      this.#life.end();
      if (this.#life.destroying) return { exitCode: 137, reason: this.#life.reason ?? 'cancelled' };
      throw new InfraError('executor', `lost track of container ${this.#container.id}: ${String(err)}`, { cause: err });
    }
  }
}

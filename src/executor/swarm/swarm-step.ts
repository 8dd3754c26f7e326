import type Docker from 'dockerode';
import { InfraError } from '../../errors.js';
import type { OutputChunk, StepHandle, StepOutcome } from '../executor.js';
import { OutputQueue } from '../output-queue.js';
import { StepLifecycle } from '../step-lifecycle.js';
import { ignoreNotFound, statusCode } from '../container/docker-errors.js';
import { TaskLog, containerLog, serviceLog, type LogSource } from './task-log.js';
import { terminalStates, type SwarmTask } from './swarm-task.js';
import type { TaskWatcher } from './task-watcher.js';
import { describeNode, type SwarmNodes } from './swarm-nodes.js';

export interface SwarmStepOptions {
  timeoutSec: number;
  timeoutGraceMs: number;
  /** Several nodes: watch the task's node, and report it in the outcome. */
  nodes?: SwarmNodes;
  /**
   * How long a task may wait for a node that satisfies its constraints (Swarm: `pending`,
   * "no suitable node", not for lack of resources) before the step ends `unschedulable`
   * (default: until its timeout).
   */
  unschedulableAfterMs?: number;
  /** The step's constraints, named in the `unschedulable` detail. */
  constraints?: string[];
  /** The task runs on this engine (one node): read its output from its container. */
  localLogs?: boolean;
  /** Called by `destroy` once the service is removed (the step's Docker secrets go then). */
  afterRemove?: () => Promise<void>;
}

/**
 * One step as a one-shot service. Its single task is polled until terminal; the exit code is
 * read from `ContainerStatus.ExitCode` only then (it reads 0 while running).
 *
 * Outcomes: `complete`/`failed` give the exit code (`oom` when the task's container, if on this
 * node, was OOM-killed). A task that ends `shutdown`/`orphaned`/`remove` without us stopping
 * it (node drained, service removed behind our back) gives `{ exitCode: -1, reason: 'node_lost' }`;
 * so does a task still `running` on a node the manager marks `down` (its engine or machine
 * died: the task's last state never changes then). With `nodes`, outcomes name the node.
 * a `rejected` task (could not start: image or mount missing on the node) and a service that
 * vanished reject `wait()` with an `InfraError` (retryable).
 *
 * Stop: SIGTERM to the task's container when it is on this engine, SIGKILL after the grace;
 * otherwise the service is removed, and Swarm applies `StopGracePeriod`.
 */
export class SwarmStep implements StepHandle {
  readonly ref: string;
  /** Set by the executor when it had a choice of paths (`sandbox: stage` fell back to a service per step). */
  where?: string;
  readonly output: AsyncIterable<OutputChunk>;
  readonly #docker: Docker;
  readonly #service: Docker.Service;
  readonly #logs: TaskLog;
  readonly #outcome: Promise<StepOutcome>;
  readonly #life: StepLifecycle;
  readonly #unwatch: () => void;
  #settle: { resolve: (o: StepOutcome) => void; reject: (e: unknown) => void } | undefined;
  #containerId: string | undefined;
  #nodeId: string | undefined;
  readonly #nodes: SwarmNodes | undefined;
  #sawTask = false;
  #unplacedSince: number | undefined;
  readonly #opts: SwarmStepOptions;

  constructor(docker: Docker, service: Docker.Service, watcher: TaskWatcher, opts: SwarmStepOptions) {
    this.#docker = docker;
    this.#service = service;
    this.ref = `swarm:${service.id}`;
    this.#nodes = opts.nodes;
    this.#opts = opts;
    const queue = new OutputQueue();
    this.output = queue;
    this.#logs = new TaskLog(queue);
    // One node: the task's container, once it runs; otherwise Swarm's broker, from now on.
    if (!opts.localLogs) this.#logs.follow(serviceLog(service));
    this.#outcome = new Promise((resolve, reject) => (this.#settle = { resolve, reject }));
    this.#outcome.catch(() => undefined);
    this.#life = new StepLifecycle((graceMs) => this.#terminate(graceMs));
    this.#unwatch = watcher.watch(
      service.id,
      (tasks, gone) => this.#onTasks(tasks, gone),
      (err) => this.#fail(err),
    );
    this.#life.armTimeout(opts.timeoutSec * 1000, opts.timeoutGraceMs);
  }

  wait(): Promise<StepOutcome> {
    return this.#outcome;
  }

  stop(graceMs: number): Promise<void> {
    return this.#life.stop(graceMs);
  }

  destroy(): Promise<void> {
    return this.#life.destroyOnce(async () => {
      this.#unwatch();
      if (!this.#life.done) {
        this.#life.end();
        this.#logs.abort();
        this.#settle?.resolve({ exitCode: -1, reason: this.#life.reason ?? 'cancelled' });
      }
      await ignoreNotFound(() => this.#service.remove());
      await this.#opts.afterRemove?.();
    });
  }

  async #terminate(graceMs: number): Promise<void> {
    if (this.#life.done) return;
    const container = this.#containerId ? this.#docker.getContainer(this.#containerId) : undefined;
    if (!container || !(await signal(container, 'SIGTERM'))) {
      await ignoreNotFound(() => this.#service.remove());
      await this.#outcome.catch(() => undefined);
      return;
    }
    const kill = setTimeout(() => void signal(container, 'SIGKILL'), graceMs);
    await this.#outcome.catch(() => undefined);
    clearTimeout(kill);
  }

  #onTasks(tasks: SwarmTask[], serviceGone: boolean): void {
    if (this.#life.done) return;
    const task = tasks[0];
    if (!task) {
      // No task yet is normal right after the create; no service means none will ever come
      // (removed behind our back before its task was seen, e.g. by `reap`).
      if (this.#sawTask || this.#life.reason || serviceGone) this.#end({ exitCode: -1, reason: this.#life.reason ?? 'node_lost' });
      return;
    }
    this.#sawTask = true;
    this.#containerId ??= task.Status.ContainerStatus?.ContainerID || undefined;
    this.#nodeId = task.NodeID || this.#nodeId;
    if (!terminalStates.has(task.Status.State)) {
      if (task.Status.State === 'running' && this.#containerId && this.#opts.localLogs) this.#logs.follow(containerLog(this.#docker, this.#containerId));
      if (this.#unplaced(task)) return;
      const node = this.#nodeId ? this.#nodes?.peek(this.#nodeId) : undefined;
      if (node?.state === 'down') this.#end({ exitCode: -1, reason: 'node_lost', detail: `node ${describeNode(node)} went down while the step ran` });
      return;
    }
    this.#life.end();
    this.#unwatch();
    void this.#finalize(task);
  }

  async #finalize(task: SwarmTask): Promise<void> {
    const { State: state, Err: err, ContainerStatus: status } = task.Status;
    const exitCode = status?.ExitCode;
    if ((state === 'complete' || state === 'failed') && typeof exitCode === 'number') {
      await this.#logs.finish(this.#logSource(status?.ContainerID || this.#containerId));
      const reason = this.#life.reason ?? (exitCode !== 0 && (await this.#oomKilled(status?.ContainerID || this.#containerId)) ? 'oom' : undefined);
      this.#settle?.resolve(this.#withNode(reason ? { exitCode, reason } : { exitCode }));
      return;
    }
    if (this.#life.reason) {
      this.#end({ exitCode: -1, reason: this.#life.reason });
      return;
    }
    if (state === 'shutdown' && this.#nodeId && this.#nodes) {
      const node = (await this.#nodes.refresh().catch(() => undefined))?.get(this.#nodeId);
      if (node && node.availability !== 'active') {
        this.#end({ exitCode: -1, reason: 'node_lost', detail: `node ${describeNode(node)} was set to ${node.availability} while the step ran` });
        return;
      }
    }
    if (state === 'rejected') {
      this.#logs.abort();
      this.#settle?.reject(new InfraError('executor', `step service ${this.#service.id} was rejected: ${err ?? 'no reason given'}`));
      return;
    }
    this.#end({ exitCode: -1, reason: 'node_lost' });
  }

  #end(outcome: StepOutcome): void {
    this.#life.end();
    this.#unwatch();
    const done =
      (outcome.reason === 'node_lost' && outcome.detail) || outcome.reason === 'unschedulable'
        ? Promise.resolve(this.#logs.abort())
        : this.#logs.finish(this.#logSource(this.#containerId));
    void done.finally(() => this.#settle?.resolve(this.#withNode(outcome)));
  }

  /** Where the complete log is read: the container (one node), else the service followed. */
  #logSource(containerId: string | undefined): LogSource | undefined {
    return this.#opts.localLogs && containerId ? containerLog(this.#docker, containerId) : undefined;
  }

  /** True when the task waited too long for a node and the step was ended `unschedulable`. */
  #unplaced(task: SwarmTask): boolean {
    const limit = this.#opts.unschedulableAfterMs;
    // Waiting for capacity ("insufficient resources") is a queue, not a placement mistake.
    const err = task.Status.Err ?? '';
    const waiting = task.Status.State === 'pending' && /no suitable node/i.test(err) && !/insufficient resources/i.test(err);
    if (!waiting || limit === undefined) {
      this.#unplacedSince = undefined;
      return false;
    }
    this.#unplacedSince ??= Date.now();
    if (Date.now() - this.#unplacedSince < limit) return false;
    const wanted = this.#opts.constraints?.length ? ` (constraints: ${this.#opts.constraints.join(', ')})` : '';
    this.#end({ exitCode: -1, reason: 'unschedulable', detail: `no node could take it for ${Math.round(limit / 1000)} s: ${task.Status.Err}${wanted}` });
    return true;
  }

  /** The outcome with the node it ran on, when nodes are watched and the node is known. */
  #withNode(outcome: StepOutcome): StepOutcome {
    const node = this.#nodeId ? this.#nodes?.peek(this.#nodeId) : undefined;
    return node ? { ...outcome, node: { id: node.id, hostname: node.hostname } } : outcome;
  }

  #fail(err: unknown): void {
    if (this.#life.done) return;
    this.#life.end();
    this.#unwatch();
    this.#logs.abort();
    this.#settle?.reject(new InfraError('executor', `lost track of step service ${this.#service.id}`, { cause: err }));
  }

  /** The ended task's own container id counts: a step killed at once may never be seen running. */
  async #oomKilled(containerId: string | undefined): Promise<boolean> {
    if (!containerId) return false;
    try {
      const info = await this.#docker.getContainer(containerId).inspect();
      return info.State.OOMKilled === true;
    } catch {
      return false;
    }
  }
}

/** Signal a task container on this engine; false when it is not here (or already gone). */
async function signal(container: Docker.Container, name: 'SIGTERM' | 'SIGKILL'): Promise<boolean> {
  try {
    await container.kill({ signal: name });
    return true;
  } catch (err) {
    const code = statusCode(err);
    if (code === 409) return true;
    return false;
  }
}

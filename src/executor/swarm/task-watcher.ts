import type Docker from 'dockerode';
import { statusCode } from '../container/docker-errors.js';
import { toSwarmTask, type SwarmTask } from './swarm-task.js';
import type { ContainerEvent, ContainerEvents } from './container-events.js';

/** `gone`: the service itself no longer exists (removed), so no task will ever come. */
type Listener = (tasks: SwarmTask[], gone: boolean) => void;

/**
 * One poller for the tasks of every running step service: each tick is a single `listTasks`
 * filtered by all watched service IDs, so 50 steps cost one request per tick, not 50.
 * A failed tick is reported to every listener's `onError` after 25 in a row.
 *
 * With `events` (container `start`/`die` events on this engine): a watched service's container
 * that started is reported at once as its task `running`, and one that died as its task's end,
 * `complete` (exit 0) or `failed`, with the event's exit code and container (Swarm itself says
 * so 50–150 ms later, then a poll up to one interval after). While that stream is open, the
 * poll runs every `eventIntervalMs` (default 250 ms): it still finds tasks on other nodes,
 * rejected, shut down or removed, and the node a task went to.
 */
export class TaskWatcher {
  readonly #docker: Docker;
  readonly #intervalMs: number;
  readonly #listeners = new Map<string, { onTasks: Listener; onError: (err: unknown) => void }>();
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;
  #ticking = false;
  readonly #events: ContainerEvents | undefined;
  readonly #eventIntervalMs: number;
  #unlisten: (() => void) | undefined;

  constructor(docker: Docker, intervalMs = 100, events?: ContainerEvents, eventIntervalMs = 250) {
    this.#docker = docker;
    this.#intervalMs = intervalMs;
    this.#events = events;
    this.#eventIntervalMs = Math.max(intervalMs, eventIntervalMs);
  }

  watch(serviceId: string, onTasks: Listener, onError: (err: unknown) => void): () => void {
    this.#listeners.set(serviceId, { onTasks, onError });
    this.#unlisten ??= this.#events?.listen((event) => this.#onEvent(event));
    this.#schedule(0);
    return () => {
      this.#listeners.delete(serviceId);
    };
  }

  close(): void {
    this.#unlisten?.();
    this.#unlisten = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#listeners.clear();
  }

  #schedule(delay: number): void {
    if (this.#timer || this.#ticking || this.#listeners.size === 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#tick();
    }, delay);
  }

  #onEvent(event: ContainerEvent): void {
    const listener = this.#listeners.get(event.serviceId);
    if (!listener) return;
    const state = event.action === 'start' ? 'running' : event.exitCode === 0 ? 'complete' : 'failed';
    const container = event.action === 'start' ? { ContainerID: event.containerId } : { ContainerID: event.containerId, ExitCode: event.exitCode };
    listener.onTasks(
      [
        {
          ID: event.taskId,
          ServiceID: event.serviceId,
          ...(event.nodeId ? { NodeID: event.nodeId } : {}),
          Status: { State: state, ContainerStatus: container },
        },
      ],
      false,
    );
  }

  async #tick(): Promise<void> {
    this.#ticking = true;
    const ids = [...this.#listeners.keys()];
    try {
      const { byService, gone } = await this.#listTasks(ids);
      this.#failures = 0;
      for (const [id, tasks] of byService) this.#listeners.get(id)?.onTasks(tasks, gone.has(id));
    } catch (err) {
      this.#failures += 1;
      if (this.#failures >= 25) for (const listener of this.#listeners.values()) listener.onError(err);
    } finally {
      this.#ticking = false;
      this.#schedule(this.#events?.connected ? this.#eventIntervalMs : this.#intervalMs);
    }
  }

  /**
   * Tasks per service. One request for all; when it fails with 404 (a watched service was
   * removed, which fails the whole filter), one request per service, and a removed service
   * gets an empty task list and is named in `gone`.
   */
  async #listTasks(ids: string[]): Promise<{ byService: Map<string, SwarmTask[]>; gone: Set<string> }> {
    const byService = new Map<string, SwarmTask[]>(ids.map((id) => [id, []]));
    const gone = new Set<string>();
    try {
      const raw = await this.#docker.listTasks({ filters: JSON.stringify({ service: ids }) });
      for (const task of raw.map(toSwarmTask)) if (task) byService.get(task.ServiceID)?.push(task);
      return { byService, gone };
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
    for (const id of ids) {
      try {
        const raw = await this.#docker.listTasks({ filters: JSON.stringify({ service: [id] }) });
        byService.set(
          id,
          raw.map(toSwarmTask).filter((t): t is SwarmTask => t !== undefined),
        );
      } catch (err) {
        if (statusCode(err) !== 404) throw err;
        gone.add(id);
      }
    }
    return { byService, gone };
  }
}

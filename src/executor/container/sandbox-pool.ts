import type Docker from 'dockerode';
import { labelKeys, type StepNode, type StepSpec } from '../executor.js';
import { removeContainer } from './docker-errors.js';

/**
 * One stage sandbox: a running container (plain, or a Swarm task's container on this node)
 * whose idle process waits while the stage's steps are exec'd in it one at a time.
 */
export interface Sandbox {
  /** The container id (on the engine `container` talks to). */
  readonly id: string;
  readonly container: Docker.Container;
  readonly key: string;
  readonly buildId: string;
  readonly stage: string;
  /** For the step log: where its steps run. */
  readonly where: string;
  /** The Swarm service it is the task of (swarm executor); absent for a plain container. */
  readonly serviceId?: string;
  /** The node it runs on (multi-node swarm): given as every step's `StepOutcome.node`. */
  readonly node?: StepNode;
  /** The memory cgroup's OOM-kill counter after the last step (see `cleanStepScript`). */
  oomKills: number | undefined;
  /** Removes the sandbox (container or service). Idempotent. */
  remove(): Promise<void>;
}

/**
 * What keys a sandbox: the build (never shared between builds), the stage, the image (by ID)
 * and the limits; and the size the secrets tmpfs needs (a step whose secrets do not fit gets
 * its own). Steps with the same key share a sandbox, one step at a time.
 */
export function sandboxKey(spec: StepSpec, imageId: string, secretsMib: number): string {
  const { cpus, memoryBytes, pids } = spec.limits;
  return JSON.stringify([spec.buildId, spec.stage, imageId, cpus, memoryBytes, pids, secretsMib]);
}

/**
 * The sandboxes of this process, by key: a step takes an idle one of its key or a new one
 * (`create`), and gives it back when it ended (`release`) or has it removed when it could not be
 * cleaned. Concurrent steps of one key (never the pipeline's case: a stage runs its steps in
 * order) each get their own sandbox. `removeWhere` removes a stage's or a build's sandboxes.
 */
export class SandboxPool {
  readonly #idle = new Map<string, Sandbox[]>();
  readonly #all = new Map<string, Sandbox>();

  /** An idle sandbox of `key`, else a new one from `create`. */
  async acquire(key: string, create: () => Promise<Sandbox>): Promise<Sandbox> {
    const idle = this.#idle.get(key);
    const found = idle?.pop();
    if (idle && idle.length === 0) this.#idle.delete(key);
    if (found) return found;
    const sandbox = await create();
    this.#all.set(sandbox.id, sandbox);
    return sandbox;
  }

  /** The step that used it ended: idle again when `healthy`, else removed. */
  async release(sandbox: Sandbox, healthy: boolean): Promise<void> {
    if (!this.#all.has(sandbox.id)) {
      // Removed meanwhile (the stage or build ended, reaped): make sure it is gone.
      await sandbox.remove();
      return;
    }
    if (!healthy) {
      await this.discard(sandbox);
      return;
    }
    const idle = this.#idle.get(sandbox.key) ?? [];
    idle.push(sandbox);
    this.#idle.set(sandbox.key, idle);
  }

  /** Forget and remove it (a step could not be started in it, or it could not be cleaned). */
  async discard(sandbox: Sandbox): Promise<void> {
    this.#forget(sandbox);
    await sandbox.remove();
  }

  /** Whether this process made the sandbox `id` and still has it. */
  has(id: string): boolean {
    return this.#all.has(id);
  }

  /** The sandbox `id` of this process, if it still has it. */
  get(id: string): Sandbox | undefined {
    return this.#all.get(id);
  }

  /** Removes (and forgets) every sandbox `match` accepts, idle or in use. */
  async removeWhere(match: (sandbox: Sandbox) => boolean): Promise<void> {
    const doomed = [...this.#all.values()].filter(match);
    for (const sandbox of doomed) this.#forget(sandbox);
    await Promise.all(doomed.map((sandbox) => sandbox.remove()));
  }

  #forget(sandbox: Sandbox): void {
    this.#all.delete(sandbox.id);
    const idle = this.#idle.get(sandbox.key);
    if (!idle) return;
    const rest = idle.filter((s) => s.id !== sandbox.id);
    if (rest.length > 0) this.#idle.set(sandbox.key, rest);
    else this.#idle.delete(sandbox.key);
  }
}

/**
 * Force-removes the sandbox containers of this instance on `docker` that carry all of `labels`
 * (a stage's or a build's, made by this or an earlier process). Returns their ids.
 */
export async function removeSandboxContainers(docker: Docker, instanceId: string, labels: Record<string, string>): Promise<string[]> {
  const filters = [
    `${labelKeys.managed}=true`,
    `${labelKeys.instance}=${instanceId}`,
    labelKeys.sandbox,
    ...Object.entries(labels).map(([k, v]) => `${k}=${v}`),
  ];
  const list = await docker.listContainers({ all: true, filters: JSON.stringify({ label: filters }) });
  await Promise.all(list.map((c) => removeContainer(docker.getContainer(c.Id))));
  return list.map((c) => c.Id);
}

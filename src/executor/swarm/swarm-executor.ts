import type Docker from 'dockerode';
import type { Logger } from '../../logger.js';
import { labelKeys, type Executor, type StepHandle, type StepSpec } from '../executor.js';
import { workingDirectory } from '../working-directory.js';
import { BuildNetworks } from '../container/build-network.js';
import { engineError, ignoreNotFound } from '../container/docker-errors.js';
import { reapOwnedBuilds } from '../container/owned-builds.js';
import { resolveImage } from '../container/resolve-image.js';
import { stepLabels, stepResourceName } from '../container/resource-names.js';
import { WorkspaceVolumes } from '../container/workspace-volume.js';
import { SwarmStep } from './swarm-step.js';
import { TaskWatcher } from './task-watcher.js';
import { toServiceSpec } from './to-service-spec.js';

export interface SwarmExecutorOptions {
  /** A client of a swarm manager. */
  docker: Docker;
  instanceId: string;
  log: Logger;
  /** Grace between SIGTERM and SIGKILL when a step times out (default 10 s, R17). */
  timeoutGraceMs?: number;
  /** Task poll interval (default 100 ms, shared by all steps). */
  pollMs?: number;
  /** The per-build network's kind (default `swarm-bridge`; `overlay` for multi-node builds). */
  network?: 'swarm-bridge' | 'overlay';
}

/**
 * The `swarm` executor (production): each step is a one-shot Swarm service (see
 * `toServiceSpec` for the spec and its isolation, `SwarmStep` for outcomes and stop).
 *
 * - Image: resolved to its ID on the manager; a missing image is a `UserError`.
 * - Per build: an internal network `bosun-<instance>-b<buildId>` (a swarm-scoped bridge with no host
 *   address by default, ~2.3 s faster per step than an overlay; see `BuildNetworks`) and the
 *   workspace volume `bosun-<instance>-ws-<buildId>`, both made by the first step and removed by
 *   `cleanupBuild`.
 *   The volume is local to the manager, so steps are placed on the manager's node. Several
 *   nodes need either a shared volume driver (NFS and the like) or a per-node copy with the
 *   build pinned to one node (filled by a one-shot service on that node); and images pushed
 *   to a registry every node reaches, referenced by digest.
 * - Gap on Engine 20.10 (API 1.41): services cannot set `no-new-privileges`; with every
 *   capability dropped from the bounding set and a non-root user, setuid binaries gain no
 *   capabilities, but they do gain uid 0 for file access. Set `"no-new-privileges": true` in
 *   the worker nodes' daemon.json to close it.
 * - `ref` is `swarm:<serviceId>`; `destroyRef` removes the service (404 is success).
 * - `reap` removes step services of this instance that `keep` rejects.
 * Concurrency: any number of steps; one task poller serves them all.
 */
export class SwarmExecutor implements Executor {
  readonly name = 'swarm' as const;
  readonly #opts: SwarmExecutorOptions;
  readonly #networks: BuildNetworks;
  readonly #volumes: WorkspaceVolumes;
  readonly #watcher: TaskWatcher;
  #nodeId: Promise<string> | undefined;

  constructor(opts: SwarmExecutorOptions) {
    this.#opts = opts;
    this.#networks = new BuildNetworks(opts.docker, opts.network ?? 'swarm-bridge', opts.instanceId);
    this.#volumes = new WorkspaceVolumes(opts.docker, opts.instanceId);
    this.#watcher = new TaskWatcher(opts.docker, opts.pollMs ?? 100);
  }

  async start(spec: StepSpec): Promise<StepHandle> {
    const { docker } = this.#opts;
    const workdir = await workingDirectory(spec.workspace, spec.workdir);
    const imageId = await resolveImage(docker, spec.image);
    const [nodeId, networkId, volumeName] = await Promise.all([
      this.#localNodeId(),
      this.#networks.ensure(spec.buildId),
      this.#volumes.ensure(spec.buildId, spec.workspace, imageId),
    ]);
    const timeoutGraceMs = this.#opts.timeoutGraceMs ?? 10_000;
    const options = toServiceSpec(spec, {
      name: stepResourceName(spec),
      imageId,
      networkId,
      volumeName,
      workdir,
      labels: stepLabels(spec, this.#opts.instanceId),
      nodeId,
      stopGraceMs: timeoutGraceMs,
    });
    let service: Docker.Service;
    try {
      const created = (await docker.createService(options)) as { id?: string; ID?: string };
      service = docker.getService(created.id ?? created.ID ?? '');
    } catch (err) {
      throw engineError(`could not start step ${spec.step} of build ${spec.buildId}`, err);
    }
    return new SwarmStep(docker, service, this.#watcher, { timeoutSec: spec.timeoutSec, timeoutGraceMs });
  }

  async destroyRef(ref: string): Promise<void> {
    const id = ref.startsWith('swarm:') ? ref.slice('swarm:'.length) : ref;
    await ignoreNotFound(() => this.#opts.docker.getService(id).remove());
  }

  async reap(keep: (labels: Record<string, string>) => boolean): Promise<string[]> {
    const { docker, instanceId } = this.#opts;
    const services = await docker.listServices({ filters: JSON.stringify({ label: [`${labelKeys.managed}=true`, `${labelKeys.instance}=${instanceId}`] }) });
    const removed: string[] = [];
    for (const service of services) {
      const labels = service.Spec?.Labels ?? {};
      if (keep(labels)) continue;
      const ref = `swarm:${service.ID}`;
      await this.destroyRef(ref);
      removed.push(ref);
    }
    if (removed.length > 0) this.#opts.log.info({ removed }, 'Reaped step services');
    return removed;
  }

  /**
   * Remove the per-build resources (network, workspace volume) of this instance's builds that
   * `isLive` rejects: what builds that crashed before `cleanupBuild` left behind (R22).
   * Returns the build IDs cleaned. Not part of `Executor`: only container executors have these.
   */
  reapBuilds(isLive: (buildId: string) => boolean): Promise<string[]> {
    return reapOwnedBuilds(this.#opts.docker, this.#opts.instanceId, isLive, (id) => this.cleanupBuild(id));
  }

  async cleanupBuild(buildId: string): Promise<void> {
    await this.#volumes.remove(buildId);
    await this.#networks.remove(buildId);
  }

  async close(): Promise<void> {
    this.#watcher.close();
  }

  #localNodeId(): Promise<string> {
    this.#nodeId ??= this.#opts.docker.info().then((info: { Swarm?: { NodeID?: string } }) => {
      const id = info.Swarm?.NodeID;
      if (!id) throw engineError('the engine is not part of a swarm', new Error('no Swarm.NodeID'));
      return id;
    });
    this.#nodeId.catch(() => (this.#nodeId = undefined));
    return this.#nodeId;
  }
}

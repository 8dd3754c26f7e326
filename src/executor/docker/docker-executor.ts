import type Docker from 'dockerode';
import type { Logger } from '../../logger.js';
import { labelKeys, type Executor, type ServiceHandle, type ServiceSpec, type StepHandle, type StepSpec } from '../executor.js';
import { workingDirectory } from '../working-directory.js';
import { BuildNetworks } from '../container/build-network.js';
import { engineError, ignoreNotFound } from '../container/docker-errors.js';
import { reapOwnedBuilds } from '../container/owned-builds.js';
import { resolveImage } from '../container/resolve-image.js';
import { removeServiceContainers, startServiceContainer } from '../container/service-container.js';
import { stepLabels, stepResourceName } from '../container/resource-names.js';
import { WorkspaceVolumes } from '../container/workspace-volume.js';
import { DockerStep } from './docker-step.js';
import { toContainerSpec } from './to-container-spec.js';

export interface DockerExecutorOptions {
  docker: Docker;
  instanceId: string;
  log: Logger;
  /** Grace between SIGTERM and SIGKILL when a step times out (default 10 s, R17). */
  timeoutGraceMs?: number;
}

/**
 * The `docker` executor: each step is a plain container on one engine (dockerode).
 *
 * - Image: resolved to its ID on the engine first; a missing image is a `UserError`.
 * - Per build: an internal bridge network `bosun-<instance>-b<buildId>` without a host address, and the
 *   workspace volume `bosun-<instance>-ws-<buildId>` filled once from the host checkout; both created by
 *   the first step and removed by `cleanupBuild`.
 * - Isolation: see `toContainerSpec` (R15, R16, R18).
 * - `ref` is `docker:<containerId>`; `destroyRef` force-removes it (404 is success).
 * - `reap` force-removes step and service containers labelled with this instance that `keep` rejects.
 * - Services (`startService`): containers on the build's network, aliased by their name.
 * - A failed `start` removes the container it created before throwing.
 * Concurrency: any number of steps at once; per-build resources are created once.
 */
export class DockerExecutor implements Executor {
  readonly name = 'docker' as const;
  readonly #opts: DockerExecutorOptions;
  readonly #networks: BuildNetworks;
  readonly #volumes: WorkspaceVolumes;

  constructor(opts: DockerExecutorOptions) {
    this.#opts = opts;
    this.#networks = new BuildNetworks(opts.docker, 'bridge', opts.instanceId);
    this.#volumes = new WorkspaceVolumes(opts.docker, opts.instanceId);
  }

  async start(spec: StepSpec): Promise<StepHandle> {
    const { docker } = this.#opts;
    const workdir = await workingDirectory(spec.workspace, spec.workdir);
    const imageId = await resolveImage(docker, spec.image);
    // Independent: make the network and fill the workspace volume at the same time.
    const [networkId, volumeName] = await Promise.all([
      this.#networks.ensure(spec.buildId),
      this.#volumes.ensure(spec.buildId, spec.workspace, imageId),
    ]);
    const name = stepResourceName(spec);
    const options = toContainerSpec(spec, { name, imageId, networkName: networkId, volumeName, workdir, labels: stepLabels(spec, this.#opts.instanceId) });
    let container: Docker.Container | undefined;
    let handle: DockerStep | undefined;
    try {
      container = await docker.createContainer(options);
      const attached = await container.attach({ stream: true, stdout: true, stderr: true, hijack: true });
      const step = new DockerStep(container, attached, { timeoutSec: spec.timeoutSec, timeoutGraceMs: this.#opts.timeoutGraceMs ?? 10_000 });
      handle = step;
      await container.start();
      step.started();
      return step;
    } catch (err) {
      const created = container;
      if (handle) await handle.destroy().catch(() => undefined);
      else if (created) await ignoreNotFound(() => created.remove({ force: true })).catch(() => undefined);
      throw engineError(`could not start step ${spec.step} of build ${spec.buildId}`, err);
    }
  }

  /** A service as a container on the build's network, aliased by its name (`startServiceContainer`). */
  async startService(spec: ServiceSpec): Promise<ServiceHandle> {
    const networkId = await this.#networks.ensure(spec.buildId);
    return startServiceContainer(this.#opts.docker, spec, { instanceId: this.#opts.instanceId, networkId });
  }

  async destroyRef(ref: string): Promise<void> {
    const id = ref.startsWith('docker:') ? ref.slice('docker:'.length) : ref;
    await ignoreNotFound(() => this.#opts.docker.getContainer(id).remove({ force: true }));
  }

  async reap(keep: (labels: Record<string, string>) => boolean): Promise<string[]> {
    const { docker, instanceId } = this.#opts;
    const containers = await docker.listContainers({ all: true, filters: JSON.stringify({ label: [`${labelKeys.managed}=true`, `${labelKeys.instance}=${instanceId}`] }) });
    const removed: string[] = [];
    for (const info of containers) {
      if (info.Labels['bosun.role'] !== undefined) continue;
      if (keep(info.Labels)) continue;
      const ref = `docker:${info.Id}`;
      await this.destroyRef(ref);
      removed.push(ref);
    }
    if (removed.length > 0) this.#opts.log.info({ removed }, 'Reaped step containers');
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
    // Services still attached would keep the network from going.
    await removeServiceContainers(this.#opts.docker, this.#opts.instanceId, { build: buildId });
    await this.#volumes.remove(buildId);
    await this.#networks.remove(buildId);
  }

  async close(): Promise<void> {}
}

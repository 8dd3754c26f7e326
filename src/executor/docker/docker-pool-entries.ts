import type Docker from 'dockerode';
import type { StepLimits } from '../executor.js';
import type { BuildNetworks } from '../container/build-network.js';
import { stepDnsOptions, type NetworkConfig } from '../container/egress-policy.js';
import { engineError, ignoreNotFound, removeContainer } from '../container/docker-errors.js';
import { poolResourceKey, poolSandboxLabels, poolSandboxName } from '../container/pool-names.js';
import { buildLabels, workspaceVolumeName } from '../container/resource-names.js';
import { resolveImage } from '../container/resolve-image.js';
import type { WarmEntry, WarmEntryFactory } from '../container/warm-pool.js';
import type { WorkspaceVolumes } from '../container/workspace-volume.js';
import { toSandboxSpec } from './to-sandbox-spec.js';

export interface DockerPoolEntriesOptions {
  docker: Docker;
  instanceId: string;
  /** The executor's build networks (an entry's network is made like a build's, under its key). */
  networks: BuildNetworks;
  volumes: WorkspaceVolumes;
  /** The server's egress policy: every entry's network gets its rules. */
  policy: NetworkConfig;
}

/**
 * Pool entries on a plain engine (docs/pool.md): each is a build's worth of resources made under
 * the key `pool-<id>` in place of a build id: its own network (`BuildNetworks`, with the server's
 * egress rules), its own empty workspace volume, and a stage sandbox (`toSandboxSpec`: the same
 * isolation as any sandbox) started on them, labelled `bosun.role=pool` with its owner process.
 * A build that claims it adopts all three.
 */
export class DockerPoolEntries implements WarmEntryFactory {
  readonly #opts: DockerPoolEntriesOptions;

  constructor(opts: DockerPoolEntriesOptions) {
    this.#opts = opts;
  }

  resolveImage(ref: string): Promise<string> {
    return resolveImage(this.#opts.docker, ref);
  }

  async create(entryId: string, imageId: string, limits: StepLimits): Promise<WarmEntry> {
    const { docker, instanceId, networks, policy } = this.#opts;
    const key = poolResourceKey(entryId);
    const volumeName = workspaceVolumeName(instanceId, key);
    let container: Docker.Container | undefined;
    try {
      const [networkId] = await Promise.all([networks.ensure(key, policy), docker.createVolume({ Name: volumeName, Labels: buildLabels(key, instanceId) })]);
      const options = toSandboxSpec({
        name: poolSandboxName(instanceId, entryId),
        imageId,
        networkName: networkId,
        volumeName,
        labels: poolSandboxLabels(instanceId, entryId),
        limits,
        secretsMib: 1,
        dns: policy.dns,
        dnsOptions: stepDnsOptions(policy),
      });
      // The volume stays empty until the claim fills it: nothing of the image is copied into it.
      for (const mount of options.HostConfig?.Mounts ?? []) if (mount.Type === 'volume') Object.assign(mount, { VolumeOptions: { NoCopy: true } });
      container = await docker.createContainer(options);
      await container.start();
      return { entryId, key, imageId, limits, container, name: options.name ?? container.id.slice(0, 12) };
    } catch (err) {
      const made = container;
      if (made) await ignoreNotFound(() => made.remove({ force: true })).catch(() => undefined);
      await this.#removeResources(key).catch(() => undefined);
      throw engineError(`could not make warm sandbox ${entryId}`, err);
    }
  }

  async remove(entry: WarmEntry): Promise<void> {
    await removeContainer(entry.container);
    await this.#removeResources(entry.key);
  }

  /** The entry's volume and network (with its egress rules), by key. */
  async #removeResources(key: string): Promise<void> {
    await this.#opts.volumes.remove(key);
    await this.#opts.networks.remove(key);
  }
}

import type Docker from 'dockerode';
import { labelKeys } from '../executor.js';

/**
 * Build IDs that still have per-build resources (workspace volume, its marker, the network
 * or its config network) made by this instance, found by label. Used to sweep what crashed
 * builds left behind; `reap` only sees step resources, whose labels name a step.
 */
async function ownedBuildIds(docker: Docker, instanceId: string): Promise<Set<string>> {
  const filters = JSON.stringify({ label: [`${labelKeys.managed}=true`, `${labelKeys.instance}=${instanceId}`, 'bosun.role'] });
  const ids = new Set<string>();
  const add = (labels: Record<string, string> | null | undefined): void => {
    const build = labels?.[labelKeys.build];
    if (build) ids.add(build);
  };
  const { Volumes: volumes } = await docker.listVolumes({ filters });
  for (const volume of volumes ?? []) add(volume.Labels);
  for (const network of await docker.listNetworks({ filters })) add(network.Labels);
  for (const container of await docker.listContainers({ all: true, filters })) add(container.Labels);
  return ids;
}

/**
 * Removes the per-build resources of this instance's builds that `isLive` rejects (what
 * builds that crashed before `cleanupBuild` left behind, R22), using the executor's own
 * `cleanupBuild`. Returns the build IDs cleaned. Shared by the docker and swarm executors.
 */
export async function reapOwnedBuilds(
  docker: Docker,
  instanceId: string,
  isLive: (buildId: string) => boolean,
  cleanupBuild: (buildId: string) => Promise<void>,
): Promise<string[]> {
  const cleaned: string[] = [];
  for (const buildId of await ownedBuildIds(docker, instanceId)) {
    if (isLive(buildId)) continue;
    await cleanupBuild(buildId);
    cleaned.push(buildId);
  }
  return cleaned;
}

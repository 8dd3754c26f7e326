import type Docker from 'dockerode';
import type { Logger } from '../../logger.js';
import { labelKeys } from '../executor.js';
import { ignoreNotFound, removeContainer, statusCode } from '../container/docker-errors.js';
import { isPoolKey, ownerAlive, ownerHost, poolLabelKeys } from '../container/pool-names.js';

export interface SweepPoolOptions {
  docker: Docker;
  instanceId: string;
  /** Keys of this process's own entries (ready or being made): kept. */
  own: Set<string>;
  log: Logger;
  /** Removes an entry's volume and network (with its egress rules) by key. */
  remove(key: string): Promise<void>;
}

/**
 * The warm pool's own reaper (docs/pool.md), run by `reapBuilds` after dead builds were cleaned
 * (a claimed entry belongs to its build, whose claim marker `reapBuilds` follows):
 * - a pool sandbox whose owner process is gone (crash, kill -9) is removed: claimed or not, no
 *   live process runs steps in it;
 * - an entry's network and volume are removed unless its sandbox's owner lives, a build's claim
 *   marker names its key, or it is this process's.
 * Returns the keys still live (their egress rules stay).
 */
export async function sweepPool(opts: SweepPoolOptions): Promise<Set<string>> {
  const { docker, instanceId } = opts;
  const ours = [`${labelKeys.managed}=true`, `${labelKeys.instance}=${instanceId}`];
  const live = new Set(opts.own);
  const removed: string[] = [];
  const sandboxes = await docker.listContainers({ all: true, filters: JSON.stringify({ label: [...ours, 'bosun.role=pool'] }) });
  for (const c of sandboxes) {
    const key = c.Labels[poolLabelKeys.key];
    if (await alive(docker, c.Labels[poolLabelKeys.owner])) {
      if (key) live.add(key);
      continue;
    }
    await removeContainer(docker.getContainer(c.Id));
    removed.push(c.Names[0] ?? c.Id);
  }
  const networks = await docker.listNetworks({ filters: JSON.stringify({ label: [...ours, 'bosun.role=build'] }) });
  const { Volumes: volumes } = await docker.listVolumes({ filters: JSON.stringify({ label: [...ours, 'bosun.role=build'] }) });
  // Claim markers (volumes labelled with the key) of builds not reaped.
  for (const v of volumes ?? []) {
    const key = v.Labels?.[poolLabelKeys.key];
    if (key && isPoolKey(key)) live.add(key);
  }
  const keys = new Set<string>();
  for (const labels of [...networks.map((n) => n.Labels), ...(volumes ?? []).map((v) => v.Labels)]) {
    const key = labels?.[labelKeys.build];
    if (key && isPoolKey(key)) keys.add(key);
  }
  for (const key of keys) {
    if (live.has(key)) continue;
    await opts.remove(key);
    removed.push(key);
  }
  if (removed.length > 0) opts.log.info({ removed }, 'Removed warm sandboxes no live process owns');
  return live;
}

/**
 * Whether a pool sandbox's owner process lives. On this host: its pid with the same start time.
 * On another: when that host name is a container of this engine (a Bosun worker run in a
 * container, whose host name is its container id), whether that container runs; any other host
 * is assumed alive (its sandboxes are never taken from a live process).
 */
async function alive(docker: Docker, owner: string | undefined): Promise<boolean> {
  const here = ownerAlive(owner);
  if (here !== undefined) return here;
  const host = ownerHost(owner);
  if (!/^[0-9a-f]{12}$/.test(host)) return true;
  try {
    return (await docker.getContainer(host).inspect()).State.Running === true;
  } catch (err) {
    if (statusCode(err) === 404) return false;
    return true;
  }
}

/**
 * With the pool off: removes the claim markers (docs/pool.md) of builds `isLive` rejects, left
 * from a run with the pool on (`reapBuilds` cleaned their pool-keyed network and volume as
 * builds of their own). Returns how many.
 */
export async function removeStaleClaimMarkers(docker: Docker, instanceId: string, isLive: (buildId: string) => boolean): Promise<number> {
  const filters = JSON.stringify({ label: [`${labelKeys.managed}=true`, `${labelKeys.instance}=${instanceId}`, poolLabelKeys.key] });
  const { Volumes: volumes } = await docker.listVolumes({ filters });
  const markers = (volumes ?? []).filter((v) => !isLive(v.Labels?.[labelKeys.build] ?? ''));
  for (const v of markers) await ignoreNotFound(() => docker.getVolume(v.Name).remove());
  return markers.length;
}

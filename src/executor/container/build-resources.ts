import type Docker from 'dockerode';
import { engineError, ignoreNotFound, statusCode } from './docker-errors.js';
import { claimLabels, claimMarkerName, poolLabelKeys } from './pool-names.js';
import { buildNetworkName, workspaceVolumeName } from './resource-names.js';

/** A pool entry a build can adopt: the key its network and workspace volume were made under. */
export interface Claimable {
  readonly entryId: string;
  readonly key: string;
}

/** How a build's per-build resources are named: under its own id (cold) or a claimed pool entry's key. */
export interface BuildKey {
  key: string;
  /** Set only for the call that claimed the entry (the build's first sandbox step in this process). */
  claimed?: Claimable;
}

/**
 * The indirection between a build and the names of its per-build resources (network, egress
 * rules, workspace volume and its marker): `buildNetworkName(instance, key)` and friends are
 * called with `key(buildId)`, never with the build id directly (docs/pool.md).
 *
 * Without a pool (`enabled` false) the key is always the build id and nothing is asked of the
 * engine: today's behaviour, unchanged.
 *
 * With a pool, the first use of a build decides once, for every process, under which key it
 * lives: a claim marker (`claimMarkerName`, a volume: created or got atomically by name)
 * records the key: a pool entry's when the build's first sandbox step claimed one, else the
 * build's own id. Later uses (other stages, services, caches, artifacts, `cleanupBuild`,
 * `reapBuilds`; in this or another process, also after a crash) read it back from the marker's
 * labels. A build that already had resources before any marker (made with the pool off) stays
 * cold. `cleanupBuild` removes the marker last (`forget`).
 */
export class BuildResources {
  readonly #docker: Docker;
  readonly #instanceId: string;
  readonly #enabled: boolean;
  readonly #known = new Map<string, string>();
  readonly #deciding = new Map<string, Promise<BuildKey>>();

  constructor(docker: Docker, instanceId: string, enabled: boolean) {
    this.#docker = docker;
    this.#instanceId = instanceId;
    this.#enabled = enabled;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /**
   * The key of `buildId`, decided now if it is not yet: `claim` (a sandbox step's) may offer a
   * pool entry, which is then adopted unless the build already has resources or another
   * process decided first (then `giveBack` gets the entry back, unused).
   */
  async key(buildId: string, claim?: () => Claimable | undefined, giveBack?: (entry: Claimable) => void): Promise<BuildKey> {
    if (!this.#enabled) return { key: buildId };
    const known = this.#known.get(buildId);
    if (known) return { key: known };
    let pending = this.#deciding.get(buildId);
    if (!pending) {
      pending = this.#decide(buildId, claim, giveBack);
      this.#deciding.set(buildId, pending);
      pending.then(
        () => this.#deciding.delete(buildId),
        () => this.#deciding.delete(buildId),
      );
      return pending;
    }
    // Another caller of this process is deciding: its claim is not ours to report.
    return { key: (await pending).key };
  }

  /** The key of `buildId` if it was decided (here, or by any process), without deciding it: for removal. */
  async existingKey(buildId: string): Promise<string> {
    if (!this.#enabled) return buildId;
    return this.#known.get(buildId) ?? (await this.#readMarker(buildId)) ?? buildId;
  }

  /** Removes the build's claim marker (last, once its resources are gone). */
  async forget(buildId: string): Promise<void> {
    if (!this.#enabled) return;
    this.#known.delete(buildId);
    await ignoreNotFound(() => this.#docker.getVolume(claimMarkerName(this.#instanceId, buildId)).remove());
  }

  async #decide(buildId: string, claim: (() => Claimable | undefined) | undefined, giveBack: ((entry: Claimable) => void) | undefined): Promise<BuildKey> {
    // At once: the marker, and resources made before any marker (the pool was off then: the build stays cold).
    const [marked, cold] = await Promise.all([this.#readMarker(buildId), claim ? this.#hasColdResources(buildId) : Promise.resolve(true)]);
    if (marked) return this.#remember(buildId, marked);
    const entry = claim && !cold ? claim() : undefined;
    const key = entry?.key ?? buildId;
    // Create-or-get: the engine serializes volume creation by name and answers a second create
    // with the volume that exists, labels and all; the labels that come back decide. (A network
    // created by name is not exclusive: two concurrent creates can both succeed.)
    let decided: string;
    try {
      const made = (await this.#docker.createVolume({
        Name: claimMarkerName(this.#instanceId, buildId),
        Labels: claimLabels(buildId, this.#instanceId, key, entry?.entryId),
      })) as { Labels?: Record<string, string> | null };
      decided = made.Labels?.[poolLabelKeys.key] ?? (await this.#readMarker(buildId)) ?? buildId;
    } catch (err) {
      if (entry) giveBack?.(entry);
      throw engineError(`could not record the workspace of build ${buildId}`, err);
    }
    this.#remember(buildId, decided);
    const won = entry !== undefined && decided === key;
    if (entry && !won) giveBack?.(entry);
    return won ? { key, claimed: entry } : { key: decided };
  }

  #remember(buildId: string, key: string): BuildKey {
    this.#known.set(buildId, key);
    // Builds another process cleaned up are never forgotten here: keep the newest.
    if (this.#known.size > 10_000) this.#known.delete(this.#known.keys().next().value!);
    return { key };
  }

  async #readMarker(buildId: string): Promise<string | undefined> {
    try {
      const info = (await this.#docker.getVolume(claimMarkerName(this.#instanceId, buildId)).inspect()) as { Labels?: Record<string, string> | null };
      return info.Labels?.[poolLabelKeys.key] ?? buildId;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw engineError(`could not read the claim marker of build ${buildId}`, err);
    }
  }

  async #hasColdResources(buildId: string): Promise<boolean> {
    const exists = (p: Promise<unknown>) =>
      p.then(
        () => true,
        (err: unknown) => (statusCode(err) === 404 ? false : Promise.reject(engineError(`could not inspect the resources of build ${buildId}`, err))),
      );
    const found = await Promise.all([
      exists(this.#docker.getVolume(workspaceVolumeName(this.#instanceId, buildId)).inspect()),
      exists(this.#docker.getNetwork(buildNetworkName(this.#instanceId, buildId)).inspect()),
    ]);
    return found.some(Boolean);
  }
}

import type Docker from 'dockerode';
import { buildLabels, buildNetworkName } from './resource-names.js';
import { engineError, ignoreNotFound, retryWhileConflict, statusCode } from './docker-errors.js';

export type NetworkKind = 'bridge' | 'overlay';

/**
 * The build's own network, shared by its steps and by nothing else (R18). It is `internal`
 * (no route out), and:
 * - bridge: the host gets no address on it (`inhibit_ipv4`), so steps cannot reach the host,
 *   its services, Redis or the Docker API through the bridge's gateway address (verified: an
 *   internal bridge with a gateway address lets containers reach every host address).
 * - overlay (Swarm): attachable; the host has no interface on it at all.
 *
 * `ensure` is idempotent and safe concurrently (in-process calls share one creation; across
 * processes, `CheckDuplicate` turns a race into a 409 and the existing network is used).
 */
export class BuildNetworks {
  readonly #docker: Docker;
  readonly #kind: NetworkKind;
  readonly #instanceId: string;
  readonly #pending = new Map<string, Promise<string>>();

  constructor(docker: Docker, kind: NetworkKind, instanceId: string) {
    this.#docker = docker;
    this.#kind = kind;
    this.#instanceId = instanceId;
  }

  /** The network's ID, created on first use. */
  ensure(buildId: string): Promise<string> {
    let pending = this.#pending.get(buildId);
    if (!pending) {
      pending = this.#create(buildId);
      this.#pending.set(buildId, pending);
      pending.catch(() => this.#pending.delete(buildId));
    }
    return pending;
  }

  async remove(buildId: string): Promise<void> {
    this.#pending.delete(buildId);
    const name = buildNetworkName(buildId);
    for (const id of await findNetworks(this.#docker, name)) {
      await retryWhileConflict(() => ignoreNotFound(() => this.#docker.getNetwork(id).remove()));
    }
  }

  async #create(buildId: string): Promise<string> {
    const name = buildNetworkName(buildId);
    const existing = await findNetworks(this.#docker, name);
    if (existing[0]) return existing[0];
    const options =
      this.#kind === 'bridge'
        ? { Driver: 'bridge', Options: { 'com.docker.network.bridge.inhibit_ipv4': 'true' } }
        : { Driver: 'overlay', Attachable: true, Scope: 'swarm' };
    try {
      const network = await this.#docker.createNetwork({
        Name: name,
        CheckDuplicate: true,
        Internal: true,
        Labels: buildLabels(buildId, this.#instanceId),
        ...options,
      });
      return network.id;
    } catch (err) {
      if (statusCode(err) === 409) {
        const raced = await findNetworks(this.#docker, name);
        if (raced[0]) return raced[0];
      }
      throw engineError(`could not create network ${name}`, err);
    }
  }
}

/** IDs of networks with exactly this name (the engine's name filter matches substrings). */
async function findNetworks(docker: Docker, name: string): Promise<string[]> {
  const list = await docker.listNetworks({ filters: JSON.stringify({ name: [name] }) });
  return list.filter((n) => n.Name === name).map((n) => n.Id);
}

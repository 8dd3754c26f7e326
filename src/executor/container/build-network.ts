import type Docker from 'dockerode';
import { buildConfigNetworkName, buildLabels, buildNetworkName } from './resource-names.js';
import { engineError, ignoreNotFound, retryWhileConflict, statusCode } from './docker-errors.js';

/** `bridge`: a plain engine's local bridge; `swarm-bridge`: a swarm-scoped bridge for services. */
export type NetworkKind = 'bridge' | 'swarm-bridge' | 'overlay';

/**
 * The build's own network, shared by its steps and by nothing else (R18). It is `internal`
 * (no route out), and:
 * - bridge: the host gets no address on it (`inhibit_ipv4`), so steps cannot reach the host,
 *   its services, Redis or the Docker API through the bridge's gateway address (verified: an
 *   internal bridge with a gateway address lets containers reach every host address).
 * - swarm-bridge (Swarm): the same bridge, swarm-scoped so services can use it; each node
 *   makes its own local bridge. A swarm-scoped network ignores driver options, so they come
 *   from a local config-only network `bosun-<instance>-netcfg-<buildId>` (`ConfigFrom`; verified: without it
 *   the host answers on every address). That config network must exist on each node that
 *   runs the build's steps: here, the manager. Measured here: a task on it starts ~0.2 s after a task with no
 *   network, against ~2.5 s for an overlay (the vxlan sandbox is set up per task). Steps of a
 *   build run on one node (its workspace volume), so they still share one bridge.
 * - overlay (Swarm): attachable; the host has no interface on it at all. Needed only if a
 *   build's steps must talk across nodes.
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
    for (const name of [buildNetworkName(this.#instanceId, buildId), buildConfigNetworkName(this.#instanceId, buildId)]) {
      for (const id of await findNetworks(this.#docker, name)) {
        await retryWhileConflict(() => ignoreNotFound(() => this.#docker.getNetwork(id).remove()));
      }
    }
  }

  async #swarmBridgeOptions(buildId: string, labels: Record<string, string>): Promise<NetworkOptions> {
    const config = buildConfigNetworkName(this.#instanceId, buildId);
    if ((await findNetworks(this.#docker, config)).length === 0) {
      try {
        await this.#docker.createNetwork({ Name: config, CheckDuplicate: true, ConfigOnly: true, Options: noHostAddress, Labels: labels } as Docker.NetworkCreateOptions);
      } catch (err) {
        if (statusCode(err) !== 409) throw engineError(`could not create network ${config}`, err);
      }
    }
    // The engine refuses labels on a network built from a config network; the config carries them.
    return { Driver: 'bridge', Attachable: true, Scope: 'swarm', ConfigFrom: { Network: config } };
  }

  async #create(buildId: string): Promise<string> {
    const name = buildNetworkName(this.#instanceId, buildId);
    const existing = await findNetworks(this.#docker, name);
    if (existing[0]) return existing[0];
    const labels = buildLabels(buildId, this.#instanceId);
    const options = this.#kind === 'swarm-bridge' ? await this.#swarmBridgeOptions(buildId, labels) : { ...networkOptions(this.#kind), Labels: labels };
    try {
      const network = await this.#docker.createNetwork({ Name: name, CheckDuplicate: true, Internal: true, ...options });
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

const noHostAddress = { 'com.docker.network.bridge.inhibit_ipv4': 'true' };

interface NetworkOptions {
  Driver: string;
  Options?: Record<string, string>;
  Attachable?: boolean;
  Scope?: string;
  ConfigFrom?: { Network: string };
  Labels?: Record<string, string>;
}

function networkOptions(kind: 'bridge' | 'overlay'): NetworkOptions {
  if (kind === 'bridge') return { Driver: 'bridge', Options: noHostAddress };
  return { Driver: 'overlay', Attachable: true, Scope: 'swarm' };
}


/** IDs of networks with exactly this name (the engine's name filter matches substrings). */
async function findNetworks(docker: Docker, name: string): Promise<string[]> {
  const list = await docker.listNetworks({ filters: JSON.stringify({ name: [name] }) });
  return list.filter((n) => n.Name === name).map((n) => n.Id);
}

import { existsSync } from 'node:fs';
import type Docker from 'dockerode';
import { InfraError } from '../../errors.js';
import { buildConfigNetworkName, buildLabels, buildNetworkName } from './resource-names.js';
import { engineError, ignoreNotFound, retryWhileConflict, statusCode } from './docker-errors.js';
import type { EgressRules } from './egress-rules.js';
import { needsRules, type NetworkConfig } from './egress-policy.js';

/** `bridge`: a plain engine's local bridge; `swarm-bridge`: a swarm-scoped bridge for services. */
export type NetworkKind = 'bridge' | 'swarm-bridge' | 'overlay';

/**
 * The build's own network, shared by its steps and by nothing else (R18). Without `egress`
 * (policy `none`) it is `internal` (no route out), and:
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
 * With `egress` (a policy that lets steps out: `internet`, `allowlist`), a bridge or swarm-bridge
 * is routed instead (not internal, with a host address and Docker's NAT) and named
 * deterministically (`bsn<hash>`), and the build's iptables rules keyed on that name are
 * installed before the network exists and removed after it is gone (see `EgressRules`: they
 * keep the host, link-local, private ranges and other builds out). An overlay never routes.
 *
 * `ensure` is idempotent and safe concurrently (in-process calls share one creation; across
 * processes, `CheckDuplicate` turns an existing network into a 409 and that one is used).
 */
export class BuildNetworks {
  readonly #docker: Docker;
  readonly #kind: NetworkKind;
  readonly #instanceId: string;
  readonly #pending = new Map<string, Promise<string>>();
  readonly #egress: EgressRules | undefined;
  readonly #names: BuildNetworkNames;

  /** `names`: how the network and its config network are named (default the build network's names). */
  constructor(docker: Docker, kind: NetworkKind, instanceId: string, egress?: EgressRules, names: BuildNetworkNames = defaultNames) {
    this.#docker = docker;
    this.#names = names;
    this.#kind = kind;
    this.#instanceId = instanceId;
    if (egress && kind === 'overlay') throw new Error('an overlay build network cannot be routed (egress rules are per host)');
    this.#egress = egress;
  }

  /** Whether steps on this network get a route out (under the egress rules). */
  get routed(): boolean {
    return this.#egress !== undefined;
  }

  /**
   * The network's ID, created on first use. `policy`: the build's own policy (the server's
   * narrowed by its bosun.yml, see `narrowPolicy`), when it differs from the one the rules
   * were made with; `egress: none` makes the network internal even where the server routes.
   */
  ensure(buildId: string, policy?: NetworkConfig): Promise<string> {
    let pending = this.#pending.get(buildId);
    if (!pending) {
      pending = this.#create(buildId, policy);
      this.#pending.set(buildId, pending);
      pending.catch(() => this.#pending.delete(buildId));
    }
    return pending;
  }

  async remove(buildId: string): Promise<void> {
    this.#pending.delete(buildId);
    // The network first: the config network it was made from cannot go while it exists.
    const names = [this.#names.network(this.#instanceId, buildId), this.#names.config(this.#instanceId, buildId)];
    const found = await findNetworks(this.#docker, names);
    for (const name of names) {
      for (const id of found.get(name) ?? []) {
        await retryWhileConflict(() => ignoreNotFound(() => this.#docker.getNetwork(id).remove()));
      }
    }
    // Last: no moment where the bridge exists without its rules.
    await this.#egress?.remove(buildId);
  }

  /** Removes egress rules of builds `isLive` rejects (left by a crash after their network went). */
  async sweepRules(isLive: (buildId: string) => boolean): Promise<string[]> {
    return (await this.#egress?.sweep(isLive)) ?? [];
  }

  async #swarmBridgeOptions(buildId: string, labels: Record<string, string>, bridgeOptions: Record<string, string>): Promise<NetworkOptions> {
    const config = this.#names.config(this.#instanceId, buildId);
    try {
      await this.#docker.createNetwork({
        Name: config,
        CheckDuplicate: true,
        ConfigOnly: true,
        Options: bridgeOptions,
        Labels: labels,
      } as Docker.NetworkCreateOptions);
    } catch (err) {
      // 409: made already (an earlier step, another process); the same options either way.
      if (statusCode(err) !== 409) throw engineError(`could not create network ${config}`, err);
    }
    // The engine refuses labels on a network built from a config network; the config carries them.
    return { Driver: 'bridge', Attachable: true, Scope: 'swarm', ConfigFrom: { Network: config } };
  }

  /** Create, and look it up by name only when it exists already (409): one call when new. */
  async #create(buildId: string, policy: NetworkConfig | undefined): Promise<string> {
    // The rules first: the bridge never exists without them.
    const routed = this.#egress !== undefined && (policy === undefined || needsRules(policy));
    const routedBridge = routed ? (await this.#egress!.install(buildId, policy)).bridge : undefined;
    try {
      const id = await this.#createNetwork(buildId, routedBridge);
      // A plain bridge exists once created: if it is not on this host, the engine is elsewhere
      // and the rules just installed here protect nothing.
      if (routedBridge && this.#kind === 'bridge' && !existsSync(`/sys/class/net/${routedBridge}`)) {
        await ignoreNotFound(() => this.#docker.getNetwork(id).remove()).catch(() => undefined);
        throw new InfraError(
          'executor',
          `the build network's bridge ${routedBridge} is not on the host Bosun runs on (a remote engine?), so its egress rules cannot apply; run Bosun beside the engine, or set network.egress: none`,
        );
      }
      return id;
    } catch (err) {
      if (routedBridge) await this.#egress?.remove(buildId).catch(() => undefined);
      throw err;
    }
  }

  async #createNetwork(buildId: string, routedBridge: string | undefined): Promise<string> {
    const name = this.#names.network(this.#instanceId, buildId);
    const labels = buildLabels(buildId, this.#instanceId);
    const bridgeOptions = routedBridge ? { 'com.docker.network.bridge.name': routedBridge } : noHostAddress;
    const options =
      this.#kind === 'swarm-bridge'
        ? await this.#swarmBridgeOptions(buildId, labels, bridgeOptions)
        : { ...networkOptions(this.#kind, bridgeOptions), Labels: labels };
    try {
      const network = await this.#docker.createNetwork({ Name: name, CheckDuplicate: true, Internal: routedBridge === undefined, ...options });
      return network.id;
    } catch (err) {
      if (statusCode(err) === 409) {
        const existing = (await findNetworks(this.#docker, [name])).get(name)?.[0];
        if (existing) return existing;
      }
      throw engineError(`could not create network ${name}`, err);
    }
  }
}

/** The names of a build's network and of the config network it is made from. */
export interface BuildNetworkNames {
  network(instanceId: string, buildId: string): string;
  config(instanceId: string, buildId: string): string;
}

const defaultNames: BuildNetworkNames = { network: buildNetworkName, config: buildConfigNetworkName };

const noHostAddress = { 'com.docker.network.bridge.inhibit_ipv4': 'true' };

interface NetworkOptions {
  Driver: string;
  Options?: Record<string, string>;
  Attachable?: boolean;
  Scope?: string;
  ConfigFrom?: { Network: string };
  Labels?: Record<string, string>;
}

function networkOptions(kind: 'bridge' | 'overlay', bridgeOptions: Record<string, string>): NetworkOptions {
  if (kind === 'bridge') return { Driver: 'bridge', Options: bridgeOptions };
  return { Driver: 'overlay', Attachable: true, Scope: 'swarm' };
}

/** IDs of the networks with exactly these names, by name (the engine's name filter matches substrings); one call. */
async function findNetworks(docker: Docker, names: string[]): Promise<Map<string, string[]>> {
  const list = await docker.listNetworks({ filters: JSON.stringify({ name: names }) });
  const byName = new Map<string, string[]>();
  for (const n of list) if (names.includes(n.Name)) byName.set(n.Name, [...(byName.get(n.Name) ?? []), n.Id]);
  return byName;
}

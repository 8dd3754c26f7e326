import { networkInterfaces } from 'node:os';
import type Docker from 'dockerode';
import { InfraError } from '../../errors.js';
import { labelKeys } from '../executor.js';
import { BuildNetworks } from '../container/build-network.js';
import type { NetworkConfig } from '../container/egress-policy.js';
import { EgressRules } from '../container/egress-rules.js';
import { engineError, ignoreNotFound, statusCode } from '../container/docker-errors.js';
import { stepUser, tmpfsTargets } from '../container/isolation.js';
import { resolveImage } from '../container/resolve-image.js';
import { buildLabels, egressConfigNetworkName, egressNetworkName, egressProxyName } from '../container/resource-names.js';
import { tcpListenScript } from '../container/to-service-container-spec.js';
import { egressProxyPort, egressProxyScript, proxyPolicy } from './egress-proxy-script.js';
import { toSwarmTask } from './swarm-task.js';

/** The egress proxy's host name on a build's overlay. */
export const egressProxyHost = 'bosun-egress-proxy';

/** The label value (`bosun.role`) on a build's egress proxy service. */
export const egressProxyRole = 'egress-proxy';

export interface EgressProxiesOptions {
  docker: Docker;
  instanceId: string;
  /** `internet` or `allowlist`; absent (policy `none`): no proxy is made, `remove` still clears what an earlier policy left. */
  policy: NetworkConfig | undefined;
  /** The policy line of the step logs (quoted in refusals). */
  describe: string;
  /** The node the proxy runs on: Bosun's own (where the rules go). */
  localNodeId: () => Promise<string>;
  /** An image with `python3` (default `bosun/base:bookworm`), on this node. */
  image?: string;
  /** Where the rules go (tests); default the host's iptables, with every swarm node's address denied. */
  rules?: EgressRules;
  /** How long the proxy may take to listen (default 90 s). */
  readyTimeoutMs?: number;
}

/**
 * Multi-node egress: one proxy per build, the only way out of the build's internal overlay.
 *
 * Steps on any node are on the build's overlay, which is `internal` (no route anywhere). The
 * build's proxy is a Swarm service on Bosun's own node (`node.id==<local>`), attached to that
 * overlay (alias `bosun-egress-proxy`, DNS round robin) and to a routed swarm-scoped bridge of the
 * build (`bosun-<instance>-egress-<build>`) whose Linux bridge carries the build's egress rules,
 * exactly as a one-node build's network does (`EgressRules`, with every swarm node's address added
 * to `deny`). Steps get `HTTP_PROXY`/`HTTPS_PROXY=http://bosun-egress-proxy:3128`. The proxy
 * refuses, with a 403 and a one-line reason, any destination the policy refuses (see
 * `egressProxyScript`); the rules refuse the same underneath. So what leaves the build leaves
 * from this host, through rules Bosun installs here, whatever node the step runs on.
 *
 * The proxy runs unprivileged (the step user, no capabilities, read-only root). Its service
 * carries the build's labels and `bosun.role=egress-proxy`: a per-build resource, removed by
 * `remove` (from `cleanupBuild`, also for crashed builds through `reapBuilds`), never by `reap`.
 * `ensure` is idempotent (an existing proxy of the build, e.g. after a Bosun restart, is reused).
 */
export class EgressProxies {
  readonly #opts: EgressProxiesOptions;
  readonly #networks: BuildNetworks;
  readonly #pending = new Map<string, Promise<void>>();

  constructor(opts: EgressProxiesOptions) {
    this.#opts = opts;
    const policy = opts.policy;
    const rules =
      policy && policy.egress !== 'none' ? (opts.rules ?? new EgressRules(policy, opts.instanceId, { extraDeny: () => this.nodeAddresses() })) : undefined;
    this.#networks = new BuildNetworks(opts.docker, 'swarm-bridge', opts.instanceId, rules, { network: egressNetworkName, config: egressConfigNetworkName });
  }

  /** The environment steps get: the proxy for HTTP and HTTPS; `noProxy` (the stage's services, the server's list) goes direct. */
  env(noProxy: string[]): Record<string, string> {
    const url = `http://${egressProxyHost}:${egressProxyPort}`;
    const direct = [...new Set(['localhost', '127.0.0.1', ...noProxy, ...(this.#opts.policy?.proxy?.noProxy ?? [])])].join(',');
    return { HTTP_PROXY: url, http_proxy: url, HTTPS_PROXY: url, https_proxy: url, NO_PROXY: direct, no_proxy: direct };
  }

  /**
   * The build's proxy, listening on `overlayId` (created once). `policy`/`describe`: the build's
   * own policy and its line (the server's narrowed by its bosun.yml); default the server's.
   */
  ensure(buildId: string, overlayId: string, policy?: NetworkConfig, describe?: string): Promise<void> {
    let pending = this.#pending.get(buildId);
    if (!pending) {
      pending = this.#create(buildId, overlayId, policy ?? this.#opts.policy, describe ?? this.#opts.describe);
      this.#pending.set(buildId, pending);
      pending.catch(() => this.#pending.delete(buildId));
    }
    return pending;
  }

  /** Removes the build's proxy, then its routed network and rules. Idempotent. */
  async remove(buildId: string): Promise<void> {
    this.#pending.delete(buildId);
    await this.#removeService(egressProxyName(this.#opts.instanceId, buildId));
    // The proxy's container holds the network until it is gone.
    await this.#untilNoContainer(buildId);
    await this.#networks.remove(buildId);
  }

  /** Rules of builds `isLive` rejects (a crash after their network went). */
  sweepRules(isLive: (buildId: string) => boolean): Promise<string[]> {
    return this.#networks.sweepRules(isLive);
  }

  /**
   * Every swarm node's own IPv4 address, and every address of this host (Bosun runs beside the
   * manager's engine): refused like `deny`, by the proxy and by the rules.
   */
  async nodeAddresses(): Promise<string[]> {
    const nodes = (await this.#opts.docker.listNodes()) as Array<{ Status?: { Addr?: string }; ManagerStatus?: { Addr?: string } }>;
    const found = new Set<string>();
    for (const list of Object.values(networkInterfaces())) for (const info of list ?? []) if (info.family === 'IPv4' && !info.internal) found.add(info.address);
    for (const node of nodes) {
      for (const addr of [node.Status?.Addr, node.ManagerStatus?.Addr?.replace(/:\d+$/, '')]) {
        if (addr && /^\d+\.\d+\.\d+\.\d+$/.test(addr) && addr !== '0.0.0.0') found.add(addr);
      }
    }
    return [...found];
  }

  async #create(buildId: string, overlayId: string, policy: NetworkConfig | undefined, describe: string): Promise<void> {
    const { docker, instanceId } = this.#opts;
    if (!policy || policy.egress === 'none') throw new Error('egress none has no proxy');
    const name = egressProxyName(instanceId, buildId);
    const [egressId, imageId, nodeId, nodes] = await Promise.all([
      this.#networks.ensure(buildId, policy),
      resolveImage(docker, this.#opts.image ?? 'bosun/base:bookworm'),
      this.#opts.localNodeId(),
      this.nodeAddresses(),
    ]);
    const labels = { ...buildLabels(buildId, instanceId), 'bosun.role': egressProxyRole };
    const env = [`BOSUN_EGRESS_POLICY=${JSON.stringify(proxyPolicy(policy, nodes, describe))}`, `BOSUN_EGRESS_PORT=${egressProxyPort}`];
    const ns = 1e9;
    let service: Docker.Service;
    try {
      const created = (await docker.createService({
        Name: name,
        Labels: labels,
        TaskTemplate: {
          ContainerSpec: {
            Image: imageId,
            Labels: labels,
            Command: ['python3', '-u', '-c', egressProxyScript],
            Env: env,
            User: stepUser,
            Init: true,
            ReadOnly: true,
            CapabilityDrop: ['ALL'],
            CapabilityAdd: [],
            Healthcheck: { Test: ['CMD-SHELL', tcpListenScript(egressProxyPort)], Interval: ns, Timeout: 5 * ns, Retries: 3, StartPeriod: 60 * ns },
            ...(policy.dns.length > 0 ? { DNSConfig: { Nameservers: policy.dns } } : {}),
            Mounts: tmpfsTargets.map((path) => ({ Type: 'tmpfs' as const, Source: '', Target: path, TmpfsOptions: { SizeBytes: 16 * 2 ** 20, Mode: 0o1777 } })),
          },
          Resources: { Limits: { NanoCPUs: 0.5e9, MemoryBytes: 128 * 2 ** 20, Pids: 256 } },
          RestartPolicy: { Condition: 'any', Delay: ns },
          Placement: { Constraints: [`node.id==${nodeId}`] },
          Networks: [{ Target: overlayId, Aliases: [egressProxyHost] }, { Target: egressId }],
          LogDriver: { Name: 'json-file' },
        },
        EndpointSpec: { Mode: 'dnsrr' },
        Mode: { Replicated: { Replicas: 1 } },
      } as Docker.CreateServiceOptions)) as { id?: string; ID?: string };
      service = docker.getService(created.id ?? created.ID ?? '');
    } catch (err) {
      if (statusCode(err) !== 409) throw engineError(`could not start the egress proxy of build ${buildId}`, err);
      service = docker.getService(name); // made already (an earlier process): reuse it
    }
    await this.#untilRunning(service, buildId);
  }

  /** Until a task of the proxy runs (its health check saw the port listen). */
  async #untilRunning(service: Docker.Service, buildId: string): Promise<void> {
    const deadline = Date.now() + (this.#opts.readyTimeoutMs ?? 90_000);
    let last = 'no task yet';
    while (Date.now() < deadline) {
      const tasks = ((await this.#opts.docker.listTasks({ filters: JSON.stringify({ service: [service.id] }) })) as unknown[]).map(toSwarmTask);
      for (const task of tasks) {
        if (!task) continue;
        if (task.Status.State === 'running') return;
        last = `${task.Status.State}${task.Status.Err ? `: ${task.Status.Err}` : ''}`;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new InfraError('executor', `the egress proxy of build ${buildId} did not start listening (last task state: ${last})`);
  }

  async #removeService(name: string): Promise<void> {
    try {
      await ignoreNotFound(() => this.#opts.docker.getService(name).remove());
    } catch (err) {
      throw engineError(`could not remove service ${name}`, err);
    }
  }

  /** Until no container of the build's proxy is left on this node (bounded; network removal retries after). */
  async #untilNoContainer(buildId: string): Promise<void> {
    const deadline = Date.now() + 30_000;
    const filters = JSON.stringify({
      label: [`${labelKeys.build}=${buildId}`, `${labelKeys.instance}=${this.#opts.instanceId}`, `bosun.role=${egressProxyRole}`],
    });
    while (Date.now() < deadline) {
      if ((await this.#opts.docker.listContainers({ all: true, filters })).length === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

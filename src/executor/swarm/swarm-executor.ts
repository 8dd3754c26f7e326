import type Docker from 'dockerode';
import type { Logger } from '../../logger.js';
import { labelKeys, sandboxStepName, type Executor, type ServiceHandle, type ServiceSpec, type StepFate, type StepHandle, type StepSpec } from '../executor.js';
import { workingDirectory } from '../working-directory.js';
import { BuildNetworks } from '../container/build-network.js';
import { describePolicy, needsRules, proxyEnv, stepDnsOptions, type NetworkConfig } from '../container/egress-policy.js';
import { EgressRules } from '../container/egress-rules.js';
import { describeNarrowed, narrowPolicy, type NetworkRequest } from '../container/egress-narrowing.js';
import { UserError } from '../../errors.js';
import { engineError, ignoreNotFound, statusCode } from '../container/docker-errors.js';
import { reapOwnedBuilds } from '../container/owned-builds.js';
import { resolveImage } from '../container/resolve-image.js';
import { removeServiceContainers, startServiceContainer } from '../container/service-container.js';
import { stepLabels, stepResourceName, workspaceVolumeName } from '../container/resource-names.js';
import { WorkspaceVolumes, workspaceReadyFile } from '../container/workspace-volume.js';
import { workspaceMount } from '../container/isolation.js';
import { SwarmStep } from './swarm-step.js';
import { terminalStates, toSwarmTask, type SwarmTask } from './swarm-task.js';
import { TaskWatcher } from './task-watcher.js';
import { ContainerEvents } from './container-events.js';
import { toServiceSpec } from './to-service-spec.js';
import { WorkspaceImages } from './workspace-images.js';
import { RemoteWorkspaces } from './remote-workspaces.js';
import { SwarmSecrets, type StepSecretRef } from './swarm-secrets.js';
import { EgressProxies, egressProxyHost } from './egress-proxy.js';
import { removeSwarmServices, startSwarmService } from './swarm-service.js';
import { remoteVolumeTar, volumeTar, type WorkspaceRead, type WorkspaceTar } from '../workspace-files.js';
import type { SandboxMode } from '../container/sandbox-mode.js';
import type { Sandbox } from '../container/sandbox-pool.js';
import { parseSandboxRef } from '../container/sandbox-step.js';
import { StageEnds } from '../container/stage-ends.js';
import { StageSandboxes } from '../container/stage-sandboxes.js';
import { removeSandboxByContainer, removeSandboxServices, toSandboxServiceSpec, waitForRunningTask } from './swarm-sandbox.js';
import { NodeEngines } from './node-engines.js';
import { SwarmNodes, describeNode } from './swarm-nodes.js';

export interface SwarmExecutorOptions {
  /** A client of a swarm manager. */
  docker: Docker;
  instanceId: string;
  log: Logger;
  /** Grace between SIGTERM and SIGKILL when a step times out (default 10 s, R17). */
  timeoutGraceMs?: number;
  /** Task poll interval (default 100 ms, shared by all steps; slower while container events flow). */
  pollMs?: number;
  /** The per-build network's kind (default `swarm-bridge` on one node, `overlay` on several). */
  network?: 'swarm-bridge' | 'overlay';
  /**
   * `host:port` of a registry every node pulls from. Set: steps run on any node (multi-node;
   * see `WorkspaceImages`); unset: every step runs on the manager's node.
   */
  registry?: string;
  /** Constraints on every step service (multi-node only). */
  constraints?: string[];
  /** How long a step may wait for a node its constraints allow (default 120 s; multi-node only). */
  unschedulableAfterMs?: number;
  /**
   * The egress policy (server config `network`); absent: `none`. One node: the build's routed
   * bridge under its rules on this host. Several nodes: an internal overlay whose only way out
   * is the build's egress proxy on this node (`EgressProxies`); `network.proxy` is refused there.
   */
  egress?: NetworkConfig;
  /** Where egress rules go (tests); default the host's iptables. */
  egressRules?: EgressRules;
  /** Multi-node egress: the proxy's image (needs `python3`; default `bosun/base:bookworm`). */
  egressProxyImage?: string;
  /**
   * `stage`: a stage's steps are exec'd in one sandbox service per (stage, image, limits) when its
   * task runs on this node; elsewhere a service per step (docs/sandbox.md). `step` (default): a service per step.
   */
  sandbox?: SandboxMode;
  /**
   * Multi-node with `sandbox: stage`: node ID or hostname → its engine's address (server config
   * `swarm.nodeEngines`; see `NodeEngines`). A sandbox whose task lands on such a node is exec'd
   * through that engine; on any other node but this one the stage runs a service per step.
   */
  nodeEngines?: Record<string, string>;
}

/** The stage's sandbox task runs on a node this worker cannot exec on. */
class RemoteSandbox extends Error {
  constructor(
    readonly node: string,
    readonly why: string,
  ) {
    super(`the sandbox runs on node ${node}: ${why}`);
  }
}

/**
 * The `swarm` executor (production): each step is a one-shot Swarm service (see
 * `toServiceSpec` for the spec and its isolation, `SwarmStep` for outcomes and stop).
 *
 * - Image: resolved to its ID on the manager; a missing image is a `UserError`.
 * - Per build: an internal network `bosun-<instance>-b<buildId>` and the workspace volume
 *   `bosun-<instance>-ws-<buildId>`, made by the first step and removed by `cleanupBuild`.
 * - One node (no `registry`): the network is a swarm-scoped bridge, internal with no host address
 *   (`egress: none`) or routed under the build's egress rules on this host (~2.3 s faster per step
 *   than an overlay; see `BuildNetworks`), the volume is filled on the
 *   manager (`WorkspaceVolumes`), and every step is placed on the manager's node.
 * - Several nodes (`registry` set): the image and the checkout are pushed to the registry as
 *   one workspace image and the step runs from its digest (`WorkspaceImages`); each node's
 *   volume is filled from it by Docker when the build first lands there. The network is an
 *   internal overlay. Placement: `constraints` + `spec.placement` (the stage's labels and its
 *   earlier steps' node, while that node is ready and active). A step whose node goes down
 *   (or is drained) ends `node_lost` and is never re-run by Swarm (R19).
 * - Gap on Engine 20.10 (API 1.41): services cannot set `no-new-privileges`; with every
 *   capability dropped from the bounding set and a non-root user, setuid binaries gain no
 *   capabilities, but they do gain uid 0 for file access. Set `"no-new-privileges": true` in
 *   the worker nodes' daemon.json to close it.
 * - `ref` is `swarm:<serviceId>`; `destroyRef` removes the service (404 is success).
 * - `reap` removes step services (and service containers) of this instance that `keep` rejects.
 * - Secrets (`spec.secrets`): one Docker secret per step secret (`SwarmSecrets`), attached to
 *   the service, removed when the step is destroyed (and by `reap`/`cleanupBuild` by label).
 * - `inspectRef`: the service's one task (`running` until terminal; `exited` when `complete` or
 *   `failed` with its container's exit code, `oom` when that container, on this engine, was
 *   OOM-killed; `gone` when the service is removed or its task was rejected or shut down).
 *   `reattach` watches the service again like a new step, its log read from the first line;
 *   the timeout counts from the service's creation.
 * - Services (`startService`): plain containers on this node's build network (one node only).
 * - `sandbox: stage` (docs/sandbox.md): a step is exec'd in its stage's sandbox service
 *   (`toSandboxServiceSpec`) when that service's task runs on this node (through this engine) or
 *   on a node with a confirmed engine in `nodeEngines` (through that one); when it lands on any
 *   other node, the stage's steps run as services, as with `step`. Each step's log says which
 *   path ran and on which node. Refs, `endStage`, `reap` as for the docker executor.
 * Concurrency: any number of steps; one task poller serves them all.
 */
export class SwarmExecutor implements Executor {
  readonly name = 'swarm' as const;
  readonly network: string;
  readonly #opts: SwarmExecutorOptions;
  readonly #networks: BuildNetworks;
  /** The server's egress policy: the ceiling of every build's (a bosun.yml `network:` only narrows it). */
  readonly #server: NetworkConfig;
  readonly #volumes: WorkspaceVolumes;
  readonly #watcher: TaskWatcher;
  readonly #events: ContainerEvents;
  readonly #images: WorkspaceImages | undefined;
  readonly #nodes: SwarmNodes | undefined;
  readonly #remote: RemoteWorkspaces | undefined;
  readonly #secrets: SwarmSecrets;
  /** Multi-node with a routed policy: each build's egress proxy. */
  readonly #proxies: EgressProxies | undefined;
  /** Whether steps go out through the build's egress proxy (multi-node, `internet`/`allowlist`). */
  readonly #routedOverlay: boolean;
  /** Multi-node: the names of each build's started services (steps reach them directly, not through the proxy). */
  readonly #serviceNames = new Map<string, Set<string>>();
  /** Multi-node: the last workspace image a step of the build ran from (every node it ran on has it). */
  readonly #workspaceImage = new Map<string, string>();
  #nodeId: Promise<string> | undefined;
  readonly #sandboxes: StageSandboxes;
  readonly #stageEnds = new StageEnds();
  /** Stages (`build\0stage`) whose sandbox landed on a node this worker cannot exec on: a service per step (the log line's reason). */
  readonly #perStep = new Map<string, string>();
  /** Other nodes' engines this worker may exec on (`nodeEngines`). */
  readonly #engines: NodeEngines | undefined;

  constructor(opts: SwarmExecutorOptions) {
    this.#opts = opts;
    const multiNode = opts.registry !== undefined;
    const engines = Object.keys(opts.nodeEngines ?? {}).length > 0 ? opts.nodeEngines : undefined;
    if (engines && !multiNode) {
      throw new UserError(
        'config_invalid',
        'swarm.nodeEngines is only for a multi-node swarm (swarm.registry): on one node every sandbox runs on the engine Bosun talks to',
      );
    }
    this.#engines = engines ? new NodeEngines(engines) : undefined;
    this.#sandboxes = new StageSandboxes({
      docker: opts.docker,
      timeoutGraceMs: opts.timeoutGraceMs ?? 10_000,
      otherEngines: () => this.#engines?.all() ?? [],
      removeForeign: (id) => removeSandboxByContainer(opts.docker, id, this.#engines?.all()),
    });
    const policy = opts.egress;
    const routed = policy !== undefined && needsRules(policy);
    const overlay = multiNode || opts.network === 'overlay';
    if (routed && overlay && (policy.proxy?.http || policy.proxy?.https)) {
      throw new UserError(
        'config_invalid',
        `network.proxy is not available on a multi-node swarm (swarm.registry): steps there reach the outside only through the build's own egress proxy; remove network.proxy, or set network.egress: none`,
      );
    }
    const rules = routed && !overlay ? (opts.egressRules ?? new EgressRules(policy, opts.instanceId)) : undefined;
    this.#networks = new BuildNetworks(opts.docker, opts.network ?? (multiNode ? 'overlay' : 'swarm-bridge'), opts.instanceId, rules);
    this.#server = policy ?? { egress: 'none', allow: [], deny: [], dns: [] };
    this.#routedOverlay = routed && overlay;
    this.network = this.#describe(describePolicy(this.#server), this.#server);
    this.#proxies = overlay
      ? new EgressProxies({
          docker: opts.docker,
          instanceId: opts.instanceId,
          policy: routed ? policy : undefined,
          describe: describePolicy(this.#server),
          localNodeId: () => this.#localNodeId(),
          ...(opts.egressProxyImage ? { image: opts.egressProxyImage } : {}),
          ...(opts.egressRules ? { rules: opts.egressRules } : {}),
        })
      : undefined;
    this.#volumes = new WorkspaceVolumes(opts.docker, opts.instanceId);
    this.#events = new ContainerEvents(opts.docker, opts.instanceId);
    // Events end local tasks; the poll finds the rest: tasks on other nodes (multi-node: 250 ms),
    // rejected or removed ones (one node: once a second, since every task is local).
    this.#watcher = new TaskWatcher(opts.docker, opts.pollMs ?? 100, this.#events, multiNode ? 250 : 1000);
    this.#images = opts.registry ? new WorkspaceImages(opts.docker, opts.registry, opts.instanceId, opts.log) : undefined;
    this.#nodes = multiNode ? new SwarmNodes(opts.docker) : undefined;
    this.#remote = multiNode ? new RemoteWorkspaces(opts.docker, opts.instanceId, opts.log) : undefined;
    this.#secrets = new SwarmSecrets(opts.docker);
  }

  /** The policy line of a build whose bosun.yml narrows the server's policy (`describeNarrowed`). */
  networkFor(request: NetworkRequest | undefined): string {
    return this.#describe(describeNarrowed(this.#server, request), this.#policyOf(request));
  }

  /** The policy line; multi-node with a policy that lets steps out says how (the build's egress proxy). */
  #describe(line: string, policy: NetworkConfig): string {
    if (!this.#routedOverlay || !needsRules(policy)) return line;
    return `${line}; multi-node: HTTP and HTTPS only, through the build's egress proxy ${egressProxyHost}:3128 (HTTP_PROXY/HTTPS_PROXY), which answers a refused destination with 403 and the reason`;
  }

  /** The build's own policy: the server's, narrowed by the build's bosun.yml (never wider). */
  #policyOf(request: NetworkRequest | undefined): NetworkConfig {
    return narrowPolicy(this.#server, request).policy;
  }

  /** The instance its per-build resources are named after (stage caches reach the same workspace volume). */
  get instanceId(): string {
    return this.#opts.instanceId;
  }

  async start(spec: StepSpec): Promise<StepHandle> {
    const { docker } = this.#opts;
    const workdir = await workingDirectory(spec.workspace, spec.workdir);
    const imageId = await resolveImage(docker, spec.image);
    let path: string | undefined;
    const ownPolicy = this.#policyOf(spec.network);
    if (this.#opts.sandbox === 'stage' && !spec.fresh && this.#routedOverlay && needsRules(ownPolicy)) {
      // The multi-node egress proxy is wired per step service (its env, its NO_PROXY list).
      path = 'bosun: the step runs as its own swarm service: stage sandboxes are not used with the multi-node egress proxy';
    } else if (this.#opts.sandbox === 'stage' && !spec.fresh) {
      const stageKey = `${spec.buildId}\0${spec.stage}`;
      const remote = this.#perStep.get(stageKey);
      if (!remote) {
        try {
          // The build's own policy (the server's, narrowed by its bosun.yml), as for a service of its own.
          const env = { ...proxyEnv(ownPolicy.proxy), ...spec.env };
          return await this.#sandboxes.start(spec, imageId, workdir, env, (key, secretsMib) => this.#createSandbox(spec, imageId, key, secretsMib));
        } catch (err) {
          if (!(err instanceof RemoteSandbox)) throw err;
          this.#perStep.set(stageKey, `the stage's sandbox landed on node ${err.node}, which this worker cannot exec on: ${err.why}`);
        }
      }
      path = `bosun: the step runs as its own swarm service: ${this.#perStep.get(stageKey) ?? ''}`;
    }
    const [where, networkId] = await Promise.all([
      this.#images ? this.#multiNode(spec, imageId) : this.#oneNode(spec, imageId, workdir),
      this.#networks.ensure(spec.buildId, this.#policyOf(spec.network)).then(async (id) => {
        const own = this.#policyOf(spec.network);
        if (this.#routedOverlay && needsRules(own)) await this.#proxies?.ensure(spec.buildId, id, own, describeNarrowed(this.#server, spec.network));
        return id;
      }),
    ]);
    const timeoutGraceMs = this.#opts.timeoutGraceMs ?? 10_000;
    const labels = stepLabels(spec, this.#opts.instanceId);
    let secretRefs: StepSecretRef[] = [];
    const dropSecrets = (): Promise<void> => this.#secrets.remove(secretRefs.map((r) => r.SecretID));
    try {
      if (spec.secrets?.length) secretRefs = await this.#secrets.create(spec.secrets, labels);
    } catch (err) {
      throw engineError(`could not create the secrets of step ${spec.step} of build ${spec.buildId}`, err);
    }
    const policy = this.#policyOf(spec.network);
    const options = toServiceSpec(
      {
        ...spec,
        env: {
          ...(this.#proxies && this.#routedOverlay && needsRules(policy)
            ? this.#proxies.env([...(this.#serviceNames.get(spec.buildId) ?? [])])
            : proxyEnv(policy.proxy)),
          ...spec.env,
        },
      },
      {
        name: stepResourceName(spec),
        image: where.image,
        networkId,
        volumeName: where.volumeName,
        workdir,
        labels,
        constraints: where.constraints,
        stopGraceMs: timeoutGraceMs,
        dns: policy.dns,
        dnsOptions: stepDnsOptions(policy),
        ...(where.filling ? { waitFor: `${workspaceMount}/${workspaceReadyFile}` } : {}),
        ...(secretRefs.length ? { secrets: secretRefs } : {}),
      },
    );
    let service: Docker.Service;
    try {
      const created = (await docker.createService(options)) as { id?: string; ID?: string };
      service = docker.getService(created.id ?? created.ID ?? '');
    } catch (err) {
      await dropSecrets().catch(() => undefined);
      throw engineError(`could not start step ${spec.step} of build ${spec.buildId}`, err);
    }
    if (where.filling) {
      try {
        await where.filling;
      } catch (err) {
        await ignoreNotFound(() => service.remove()).catch(() => undefined);
        await dropSecrets().catch(() => undefined);
        throw err;
      }
    }
    const step = new SwarmStep(docker, service, this.#watcher, {
      timeoutSec: spec.timeoutSec,
      timeoutGraceMs,
      localLogs: !this.#images,
      ...(secretRefs.length ? { afterRemove: dropSecrets } : {}),
      ...(this.#nodes ? { nodes: this.#nodes, unschedulableAfterMs: this.#opts.unschedulableAfterMs ?? 120_000, constraints: where.constraints } : {}),
    });
    if (path) step.where = path;
    if (this.#images) this.#workspaceImage.set(spec.buildId, where.image);
    if (this.#remote) {
      const remote = this.#remote;
      void step.wait().then(
        (o) => o.node && remote.track(spec.buildId, o.node.id, where.image),
        () => undefined,
      );
    }
    return step;
  }

  /**
   * A stage sandbox: a service placed like a step (`#oneNode`/`#multiNode`), running; usable when
   * its task is on this node (its container is exec'd through this engine) or on a node with a
   * confirmed engine in `nodeEngines` (exec'd through that one). Elsewhere it is removed and
   * `RemoteSandbox` thrown (the stage then runs a service per step).
   */
  async #createSandbox(spec: StepSpec, imageId: string, key: string, secretsMib: number): Promise<Sandbox> {
    const { docker, instanceId } = this.#opts;
    const policy = this.#policyOf(spec.network);
    const [where, networkId] = await Promise.all([
      this.#images ? this.#multiNode(spec, imageId) : this.#oneNode(spec, imageId, ''),
      this.#networks.ensure(spec.buildId, policy),
    ]);
    if (where.filling) await where.filling;
    const name = stepResourceName({ ...spec, step: 'sandbox' });
    const options = toSandboxServiceSpec(
      spec,
      {
        name,
        image: where.image,
        networkId,
        volumeName: where.volumeName,
        workdir: '',
        labels: { ...stepLabels({ ...spec, step: sandboxStepName }, instanceId), [labelKeys.sandbox]: 'stage' },
        constraints: where.constraints,
        stopGraceMs: 1000,
        dns: policy.dns,
        dnsOptions: stepDnsOptions(policy),
      },
      secretsMib,
    );
    let service: Docker.Service | undefined;
    let task;
    try {
      const created = (await docker.createService(options)) as { id?: string; ID?: string };
      service = docker.getService(created.id ?? created.ID ?? '');
      task = await waitForRunningTask(docker, service.id, this.#opts.unschedulableAfterMs ?? 120_000);
    } catch (err) {
      const made = service;
      if (made) await ignoreNotFound(() => made.remove()).catch(() => undefined);
      throw engineError(`could not start the sandbox of stage ${spec.stage} of build ${spec.buildId}`, err);
    }
    const made = service;
    const remove = () => ignoreNotFound(() => made.remove());
    const sandbox = { id: task.containerId, serviceId: made.id, key, buildId: spec.buildId, stage: spec.stage, oomKills: 0, remove };
    const local = task.nodeId === (await this.#localNodeId());
    const node = this.#nodes ? await this.#stepNode(task.nodeId) : undefined;
    if (local) {
      return {
        ...sandbox,
        container: docker.getContainer(task.containerId),
        ...(node ? { node } : {}),
        where: `bosun: the step runs in the stage's sandbox ${name} (a swarm task on this node; docker exec through the local engine)`,
      };
    }
    // Another node: its copy of the workspace is emptied with the build, whichever path runs there.
    this.#remote?.track(spec.buildId, task.nodeId, where.image);
    this.#workspaceImage.set(spec.buildId, where.image);
    const named = node ? describeNode(node) : task.nodeId;
    const engine = this.#engines ? await this.#engines.forNode(task.nodeId, node?.hostname) : { why: 'no engine is configured for it in swarm.nodeEngines' };
    if (!engine.docker) {
      await remove().catch(() => undefined);
      throw new RemoteSandbox(named, engine.why);
    }
    return {
      ...sandbox,
      container: engine.docker.getContainer(task.containerId),
      ...(node ? { node } : {}),
      where: `bosun: the step runs in the stage's sandbox ${name} (a swarm task on node ${named}; docker exec through its engine ${engine.address}, swarm.nodeEngines)`,
    };
  }

  /** A node by ID, with its hostname (from a fresh listing; `?` when the node is not listed). */
  async #stepNode(id: string): Promise<{ id: string; hostname: string }> {
    const found = (await this.#nodes?.refresh().catch(() => undefined))?.get(id);
    return { id, hostname: found?.hostname ?? '?' };
  }

  /** Removes the stage's sandboxes (this process's and any an earlier process left). */
  async endStage(buildId: string, stage: string): Promise<void> {
    if (this.#opts.sandbox !== 'stage') return;
    this.#perStep.delete(`${buildId}\0${stage}`);
    await this.#stageEnds.run(buildId, async () => {
      await this.#sandboxes.removeWhere((s) => s.buildId === buildId && s.stage === stage);
      await removeSandboxServices(this.#opts.docker, this.#opts.instanceId, { [labelKeys.build]: buildId, [labelKeys.stage]: stage });
    });
  }

  /**
   * One node: the volume filled on the manager, the image by ID, the step on the manager.
   * The first step of a build does not wait for the fill (~40 ms copied directly, ~0.2 s
   * through a helper container) before its service is created: the task takes longer than
   * that to start, and its script waits for the fill's last file first. Only with the workspace root as workdir: a subdirectory must exist at
   * container start.
   */
  async #oneNode(spec: StepSpec, imageId: string, workdir: string): Promise<Placed> {
    const fill = this.#volumes.ensure(spec.buildId, spec.workspace, imageId);
    const overlap = workdir === '' && (await this.#volumes.startedFresh(spec.buildId));
    const [nodeId, volumeName] = await Promise.all([this.#localNodeId(), overlap ? workspaceVolumeName(this.#opts.instanceId, spec.buildId) : fill]);
    return { image: imageId, volumeName, constraints: [`node.id==${nodeId}`], ...(overlap ? { filling: fill } : {}) };
  }

  /** Several nodes: the workspace image by digest, a per-node volume, the constraints. */
  async #multiNode(spec: StepSpec, imageId: string): Promise<Placed> {
    const constraints = [...(this.#opts.constraints ?? []), ...(spec.placement?.constraints ?? [])];
    const wanted = spec.placement?.node;
    const [image, node] = await Promise.all([
      this.#images!.ensure(spec.buildId, spec.workspace, imageId),
      wanted ? this.#nodes!.usable(wanted) : Promise.resolve(undefined),
    ]);
    if (node) constraints.push(`node.id==${node.id}`);
    else if (wanted)
      this.#opts.log.warn(
        { buildId: spec.buildId, stage: spec.stage, node: wanted },
        "The stage's node is not available; placing the step anew (it gets a fresh checkout)",
      );
    return { image, volumeName: workspaceVolumeName(this.#opts.instanceId, spec.buildId), constraints: [...new Set(constraints)] };
  }

  /**
   * One node: a plain container on this node, on the build's swarm-scoped bridge and aliased by
   * its name (see `startServiceContainer` for why not a Swarm service). Several nodes
   * (`registry`): a Swarm service on the build's overlay, aliased by its name, placed on any node
   * the server's constraints allow, its image pushed to the registry (see `startSwarmService`);
   * steps on every node reach it by name (and not through the egress proxy: `NO_PROXY`).
   */
  async startService(spec: ServiceSpec): Promise<ServiceHandle> {
    const networkId = await this.#networks.ensure(spec.buildId, this.#policyOf(spec.network));
    if (!this.#images) return startServiceContainer(this.#opts.docker, spec, { instanceId: this.#opts.instanceId, networkId });
    if (spec.name === egressProxyHost)
      throw new UserError('bad_request', `service \`${spec.name}\`: the name ${egressProxyHost} is Bosun's own on a build network; rename the service`);
    const image = await this.#images.plain(spec.buildId, await resolveImage(this.#opts.docker, spec.image));
    let names = this.#serviceNames.get(spec.buildId);
    if (!names) this.#serviceNames.set(spec.buildId, (names = new Set()));
    names.add(spec.name);
    return startSwarmService(this.#opts.docker, spec, { instanceId: this.#opts.instanceId, networkId, image, constraints: this.#opts.constraints ?? [] });
  }

  async destroyRef(ref: string): Promise<void> {
    if (parseSandboxRef(ref)) return this.#sandboxes.destroyRef(ref);
    if (ref.startsWith('docker:')) {
      await ignoreNotFound(() => this.#opts.docker.getContainer(ref.slice('docker:'.length)).remove({ force: true }));
      return;
    }
    const id = ref.startsWith('swarm:') ? ref.slice('swarm:'.length) : ref;
    await ignoreNotFound(() => this.#opts.docker.getService(id).remove());
  }

  async inspectRef(ref: string): Promise<StepFate> {
    if (parseSandboxRef(ref)) return this.#sandboxes.inspectRef(ref);
    const found = await this.#find(ref);
    if (!found) return { state: 'gone', detail: 'its service no longer exists' };
    const { task } = found;
    if (!task) return { state: 'running' };
    const { State: state, Err: err, ContainerStatus: status } = task.Status;
    // Swarm marks a task ended 50–150 ms after its container (on this engine) exited.
    if (!terminalStates.has(state)) return (status?.ContainerID && (await this.#exitedContainer(status.ContainerID))) || { state: 'running' };
    if ((state === 'complete' || state === 'failed') && typeof status?.ExitCode === 'number') {
      const exitCode = status.ExitCode;
      const oom = exitCode !== 0 && status.ContainerID ? await this.#oomKilled(status.ContainerID) : false;
      return oom ? { state: 'exited', exitCode, reason: 'oom' } : { state: 'exited', exitCode };
    }
    return { state: 'gone', detail: `its task ended ${state}${err ? `: ${err}` : ''}` };
  }

  async reattach(ref: string, timeoutSec: number): Promise<StepHandle | undefined> {
    // An exec's output is not kept by the engine: a sandbox step cannot be taken back.
    if (parseSandboxRef(ref)) return undefined;
    const found = await this.#find(ref);
    if (!found || (await this.inspectRef(ref)).state === 'gone') return undefined;
    const elapsedMs = Date.now() - (Date.parse(found.createdAt) || Date.now());
    return new SwarmStep(this.#opts.docker, this.#opts.docker.getService(found.id), this.#watcher, {
      timeoutSec: Math.max(0, timeoutSec - elapsedMs / 1000),
      timeoutGraceMs: this.#opts.timeoutGraceMs ?? 10_000,
      localLogs: !this.#images,
      ...(this.#nodes ? { nodes: this.#nodes, unschedulableAfterMs: this.#opts.unschedulableAfterMs ?? 120_000 } : {}),
    });
  }

  /** The service behind `ref` and its (one) task; undefined when the service is gone. */
  async #find(ref: string): Promise<{ id: string; createdAt: string; task: SwarmTask | undefined } | undefined> {
    const id = ref.startsWith('swarm:') ? ref.slice('swarm:'.length) : ref;
    const { docker } = this.#opts;
    let info: { ID: string; CreatedAt?: string };
    try {
      info = (await docker.getService(id).inspect()) as { ID: string; CreatedAt?: string };
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw engineError(`could not inspect step service ${id}`, err);
    }
    const tasks = ((await docker.listTasks({ filters: JSON.stringify({ service: [info.ID] }) })) as unknown[]).map(toSwarmTask).filter((t) => t !== undefined);
    return { id: info.ID, createdAt: info.CreatedAt ?? '', task: tasks[0] };
  }

  /** The fate of a task's container on this engine once it exited; undefined otherwise. */
  async #exitedContainer(containerId: string): Promise<StepFate | undefined> {
    try {
      const { State: st } = await this.#opts.docker.getContainer(containerId).inspect();
      if (st.Status !== 'exited' && st.Status !== 'dead') return undefined;
      return st.OOMKilled && st.ExitCode !== 0 ? { state: 'exited', exitCode: st.ExitCode, reason: 'oom' } : { state: 'exited', exitCode: st.ExitCode };
    } catch {
      return undefined;
    }
  }

  async #oomKilled(containerId: string): Promise<boolean> {
    try {
      return (await this.#opts.docker.getContainer(containerId).inspect()).State.OOMKilled === true;
    } catch {
      return false;
    }
  }

  async reap(keep: (labels: Record<string, string>) => boolean): Promise<string[]> {
    const { docker, instanceId } = this.#opts;
    const services = await docker.listServices({ filters: JSON.stringify({ label: [`${labelKeys.managed}=true`, `${labelKeys.instance}=${instanceId}`] }) });
    const removed: string[] = [];
    for (const service of services) {
      const labels = service.Spec?.Labels ?? {};
      // Per-build resources (a build's egress proxy) go with their build (`reapBuilds`).
      if (labels['bosun.role'] || keep(labels)) continue;
      const ref = `swarm:${service.ID}`;
      await this.destroyRef(ref);
      removed.push(ref, ...this.#sandboxes.refsIn((s) => s.serviceId === service.ID));
    }
    const serviceContainers = await docker.listContainers({
      all: true,
      filters: JSON.stringify({ label: [`${labelKeys.managed}=true`, `${labelKeys.instance}=${instanceId}`, labelKeys.service] }),
    });
    for (const info of serviceContainers) {
      if (keep(info.Labels)) continue;
      const ref = `docker:${info.Id}`;
      await this.destroyRef(ref);
      removed.push(ref);
    }
    if (removed.length > 0) this.#opts.log.info({ removed }, 'Reaped step services');
    const secrets = await this.#secrets.reap(instanceId, keep);
    if (secrets.length > 0) this.#opts.log.info({ secrets }, 'Reaped step secrets');
    return removed;
  }

  /** Per-build resources (network, workspace volume, image, egress rules) of this instance's builds `isLive` rejects (what crashed builds left behind, R22). */
  async reapBuilds(isLive: (buildId: string) => boolean): Promise<string[]> {
    const cleaned = await reapOwnedBuilds(this.#opts.docker, this.#opts.instanceId, isLive, (id) => this.cleanupBuild(id));
    const rulesOnly = [...(await this.#networks.sweepRules(isLive)), ...((await this.#proxies?.sweepRules(isLive)) ?? [])];
    return [...new Set([...cleaned, ...rulesOnly])];
  }

  /**
   * The build's workspace volume where the step ran: on this node directly or through a helper
   * (`volumeTar`); on another node (multi-node) through a one-shot service there, run from the
   * build's workspace image, which that node has (`remoteVolumeTar`).
   */
  async readWorkspace(req: WorkspaceRead): Promise<WorkspaceTar> {
    const { docker, instanceId } = this.#opts;
    if (!this.#images || !req.node || req.node.id === (await this.#localNodeId())) return volumeTar(docker, instanceId, req);
    const image = this.#workspaceImage.get(req.buildId);
    if (!image) throw engineError(`could not read the workspace of build ${req.buildId}`, new Error('no workspace image of this build in this process'));
    return { stream: await remoteVolumeTar(docker, instanceId, { ...req, node: req.node, image }) };
  }

  async cleanupBuild(buildId: string): Promise<void> {
    await this.#stageEnds.settled(buildId);
    this.#workspaceImage.delete(buildId);
    this.#serviceNames.delete(buildId);
    for (const key of this.#perStep.keys()) if (key.startsWith(`${buildId}\0`)) this.#perStep.delete(key);
    await this.#sandboxes.removeWhere((s) => s.buildId === buildId);
    await removeSandboxServices(this.#opts.docker, this.#opts.instanceId, { [labelKeys.build]: buildId });
    // Services still attached would keep the network from going.
    await removeServiceContainers(this.#opts.docker, this.#opts.instanceId, { build: buildId });
    if (this.#images) await removeSwarmServices(this.#opts.docker, this.#opts.instanceId, { build: buildId });
    // The proxy (multi-node egress; any policy: a build may have been started under another) before the overlay it is on.
    await this.#proxies?.remove(buildId);
    if (this.#remote) await this.#remote.sweep(buildId, await this.#localNodeId());
    await this.#volumes.remove(buildId);
    await this.#images?.remove(buildId);
    await this.#networks.remove(buildId);
    await this.#secrets.reap(this.#opts.instanceId, (labels) => labels[labelKeys.build] !== buildId);
  }

  async close(): Promise<void> {
    this.#watcher.close();
    this.#events.close();
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

/** Where and from what a step runs. */
interface Placed {
  image: string;
  volumeName: string;
  constraints: string[];
  /** The workspace fill still running (the step waits for its last file). */
  filling?: Promise<string>;
}

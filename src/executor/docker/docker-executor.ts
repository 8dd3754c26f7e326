import type Docker from 'dockerode';
import type { Logger } from '../../logger.js';
import { labelKeys, sandboxStepName, type Executor, type ServiceHandle, type ServiceSpec, type StepFate, type StepHandle, type StepSpec } from '../executor.js';
import { workingDirectory } from '../working-directory.js';
import { BuildNetworks } from '../container/build-network.js';
import { describePolicy, needsRules, proxyEnv, stepDnsOptions, type NetworkConfig } from '../container/egress-policy.js';
import { EgressRules } from '../container/egress-rules.js';
import { describeNarrowed, narrowPolicy, type NetworkRequest } from '../container/egress-narrowing.js';
import { engineError, ignoreNotFound, removeContainer, statusCode } from '../container/docker-errors.js';
import { reapOwnedBuilds } from '../container/owned-builds.js';
import { resolveImage } from '../container/resolve-image.js';
import { removeServiceContainers, startServiceContainer } from '../container/service-container.js';
import { stepLabels, stepResourceName } from '../container/resource-names.js';
import { WorkspaceVolumes } from '../container/workspace-volume.js';
import { DockerStep } from './docker-step.js';
import { toContainerSpec } from './to-container-spec.js';
import { secretsPayload } from '../secret-script.js';
import { volumeTar, type WorkspaceRead, type WorkspaceTar } from '../workspace-files.js';
import { StageEnds } from '../container/stage-ends.js';
import { StageSandboxes } from '../container/stage-sandboxes.js';
import { removeSandboxContainers, type Sandbox } from '../container/sandbox-pool.js';
import { parseSandboxRef } from '../container/sandbox-step.js';
import type { SandboxMode } from '../container/sandbox-mode.js';
import { toSandboxSpec } from './to-sandbox-spec.js';
import { isDeepStrictEqual } from 'node:util';
import type { StepLimits } from '../executor.js';
import { BuildResources, type Claimable } from '../container/build-resources.js';
import { WarmPool, type WarmEntry } from '../container/warm-pool.js';
import { DockerPoolEntries } from './docker-pool-entries.js';
import { removeStaleClaimMarkers, sweepPool } from './sweep-pool.js';
import { isPoolKey, poolLabelKeys } from '../container/pool-names.js';

export interface DockerExecutorOptions {
  docker: Docker;
  instanceId: string;
  log: Logger;
  /** Grace between SIGTERM and SIGKILL when a step times out (default 10 s, R17). */
  timeoutGraceMs?: number;
  /** The egress policy (server config `network`); absent: `none` (an internal network). */
  egress?: NetworkConfig;
  /** Where egress rules go (tests); default the host's iptables. */
  egressRules?: EgressRules;
  /** `stage`: a stage's steps are exec'd in one sandbox per (stage, image, limits) (docs/sandbox.md); `step` (default): a container per step. */
  sandbox?: SandboxMode;
  /**
   * The warm pool (server config `sandboxPool`, docs/pool.md; `sandbox: stage` only): `size`
   * ready sandboxes per image in `images`, each with `limits` (the server's step limits).
   */
  pool?: { size: number; images: string[]; idleSec: number; limits: StepLimits };
}

/**
 * The `docker` executor: each step is a plain container on one engine (dockerode).
 *
 * - Image: resolved to its ID on the engine first; a missing image is a `UserError`.
 * - Per build: a bridge network `bosun-<instance>-b<buildId>`: internal without a host address
 *   (`egress: none`), or routed with NAT under the build's egress rules (see `BuildNetworks`); and the
 *   workspace volume `bosun-<instance>-ws-<buildId>` filled once from the host checkout; both created by
 *   the first step and removed by `cleanupBuild`.
 * - Isolation: see `toContainerSpec` (R15, R16, R18).
 * - `ref` is `docker:<containerId>`; `destroyRef` force-removes it (404 is success).
 * - `reap` force-removes step and service containers labelled with this instance that `keep` rejects.
 * - `inspectRef`: the container's state (`running`; `exited` with `State.ExitCode`, `oom` from
 *   `State.OOMKilled`; `gone` when removed or never started). `reattach` follows the container's
 *   log from its first line and waits for its exit; the timeout counts from `State.StartedAt`.
 * - Services (`startService`): containers on the build's network, aliased by their name.
 * - A failed `start` removes the container it created before throwing.
 * - Secrets: written to the step's stdin right after start and read by its script into the
 *   /run/secrets tmpfs (see `toContainerSpec`); stdin then ends, so the commands see EOF.
 * - `sandbox: stage` (docs/sandbox.md): a step is exec'd in its stage's sandbox container
 *   (`StageSandboxes`, `toSandboxSpec`), ref `sandbox:<containerId>:<execId>`; `endStage` and
 *   `cleanupBuild` remove the sandboxes; `reap` treats them like step containers (their step
 *   label is `sandboxStepName`).
 * Concurrency: any number of steps at once; per-build resources are created once.
 */
export class DockerExecutor implements Executor {
  readonly name = 'docker' as const;
  readonly network: string;
  readonly #opts: DockerExecutorOptions;
  readonly #networks: BuildNetworks;
  /** The server's egress policy: the ceiling of every build's (a bosun.yml `network:` only narrows it). */
  readonly #server: NetworkConfig;
  readonly #volumes: WorkspaceVolumes;
  readonly #sandboxes: StageSandboxes;
  readonly #stageEnds = new StageEnds();
  /** How a build's network and volume are named: after the build, or the pool entry it claimed. */
  readonly #resources: BuildResources;
  readonly #pool: WarmPool | undefined;

  constructor(opts: DockerExecutorOptions) {
    this.#opts = opts;
    this.#sandboxes = new StageSandboxes({
      docker: opts.docker,
      timeoutGraceMs: opts.timeoutGraceMs ?? 10_000,
      removeForeign: (id) => removeContainer(opts.docker.getContainer(id)),
    });
    const policy = opts.egress;
    const rules = policy && needsRules(policy) ? (opts.egressRules ?? new EgressRules(policy, opts.instanceId)) : undefined;
    this.#networks = new BuildNetworks(opts.docker, 'bridge', opts.instanceId, rules);
    this.#server = policy ?? { egress: 'none', allow: [], deny: [], dns: [] };
    this.network = describePolicy(this.#server);
    this.#volumes = new WorkspaceVolumes(opts.docker, opts.instanceId);
    const pooled = opts.sandbox === 'stage' && opts.pool !== undefined && opts.pool.size > 0;
    this.#resources = new BuildResources(opts.docker, opts.instanceId, pooled);
    if (pooled && opts.pool) {
      this.#pool = new WarmPool({
        size: opts.pool.size,
        images: opts.pool.images,
        limits: opts.pool.limits,
        idleMs: opts.pool.idleSec * 1000,
        log: opts.log.child({ component: 'warm-pool' }),
        factory: new DockerPoolEntries({
          docker: opts.docker,
          instanceId: opts.instanceId,
          networks: this.#networks,
          volumes: this.#volumes,
          policy: this.#server,
        }),
      });
      this.#pool.start();
    }
  }

  /** The warm pool, when `pool.size` > 0 (tests and the bench wait on it). */
  get warmPool(): WarmPool | undefined {
    return this.#pool;
  }

  /** What the build's workspace volume is named after (its id, or the pool entry it claimed; docs/pool.md). */
  async workspaceKey(buildId: string): Promise<string> {
    return (await this.#resources.key(buildId)).key;
  }

  /** The policy line of a build whose bosun.yml narrows the server's policy (`describeNarrowed`). */
  networkFor(request: NetworkRequest | undefined): string {
    return describeNarrowed(this.#server, request);
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
    if (this.#opts.sandbox === 'stage' && !spec.fresh) {
      // The build's own policy (the server's, narrowed by its bosun.yml), as for a step of its own.
      const env = { ...proxyEnv(this.#policyOf(spec.network).proxy), ...spec.env };
      return this.#sandboxes.start(spec, imageId, workdir, env, (key, secretsMib) => this.#createSandbox(spec, imageId, key, secretsMib));
    }
    const { key } = await this.#resources.key(spec.buildId);
    // Independent: make the network and fill the workspace volume at the same time.
    const [networkId, volumeName] = await Promise.all([
      this.#networks.ensure(key, this.#policyOf(spec.network)),
      this.#volumes.ensure(key, spec.workspace, imageId, spec.buildId),
    ]);
    const name = stepResourceName(spec);
    const policy = this.#policyOf(spec.network);
    const stepSpec = { ...spec, env: { ...proxyEnv(policy.proxy), ...spec.env } };
    const options = toContainerSpec(stepSpec, {
      name,
      imageId,
      networkName: networkId,
      volumeName,
      workdir,
      labels: stepLabels(spec, this.#opts.instanceId),
      dns: policy.dns,
      dnsOptions: stepDnsOptions(policy),
    });
    let container: Docker.Container | undefined;
    let handle: DockerStep | undefined;
    try {
      container = await docker.createContainer(options);
      const secrets = spec.secrets ?? [];
      const attached = await container.attach({ stream: true, stdout: true, stderr: true, hijack: true, ...(secrets.length ? { stdin: true } : {}) });
      const step = DockerStep.attached(container, attached, { timeoutSec: spec.timeoutSec, timeoutGraceMs: this.#opts.timeoutGraceMs ?? 10_000 });
      handle = step;
      await container.start();
      if (secrets.length) await writeAndClose(attached as NodeJS.ReadWriteStream, secretsPayload(secrets));
      step.started();
      return step;
    } catch (err) {
      const created = container;
      if (handle) await handle.destroy().catch(() => undefined);
      else if (created) await ignoreNotFound(() => created.remove({ force: true })).catch(() => undefined);
      throw engineError(`could not start step ${spec.step} of build ${spec.buildId}`, err);
    }
  }

  /** A new sandbox container for `spec`'s stage, started, on the build's network and workspace. */
  async #createSandbox(spec: StepSpec, imageId: string, key: string, secretsMib: number): Promise<Sandbox> {
    const { docker, instanceId } = this.#opts;
    const policy = this.#policyOf(spec.network);
    const offer = this.#poolOffer(spec, imageId, policy, secretsMib);
    const decided = await this.#resources.key(spec.buildId, offer.claim, (entry) => this.#pool?.giveBack(entry as WarmEntry));
    if (decided.claimed) return this.#adopt(spec, decided.claimed as WarmEntry, imageId, key);
    const [networkId, volumeName] = await Promise.all([
      this.#networks.ensure(decided.key, policy),
      this.#volumes.ensure(decided.key, spec.workspace, imageId, spec.buildId),
    ]);
    const forSandbox = { ...spec, step: sandboxStepName };
    const options = toSandboxSpec({
      name: stepResourceName({ ...spec, step: 'sandbox' }),
      imageId,
      networkName: networkId,
      volumeName,
      labels: { ...stepLabels(forSandbox, instanceId), [labelKeys.sandbox]: 'stage' },
      limits: spec.limits,
      secretsMib,
      dns: policy.dns,
      dnsOptions: stepDnsOptions(policy),
    });
    let container: Docker.Container | undefined;
    try {
      container = await docker.createContainer(options);
      await container.start();
    } catch (err) {
      const made = container;
      if (made) await ignoreNotFound(() => made.remove({ force: true })).catch(() => undefined);
      throw engineError(`could not start the sandbox of stage ${spec.stage} of build ${spec.buildId}`, err);
    }
    const made = container;
    return {
      id: made.id,
      container: made,
      key,
      buildId: spec.buildId,
      stage: spec.stage,
      where: `bosun: the step runs in the stage's sandbox ${options.name ?? made.id.slice(0, 12)} (docker exec)${offer.why() ? `; not from the warm pool: ${offer.why()}` : ''}`,
      oomKills: 0,
      remove: () => removeContainer(made),
    };
  }

  /**
   * Whether the step may claim a warm sandbox, and why not (for the log). A claim needs the
   * server's own egress policy (the entry's network was made with its rules), the pool's limits,
   * and secrets that fit the entry's 1 MiB secrets tmpfs; `claim` takes an entry of the image.
   */
  #poolOffer(spec: StepSpec, imageId: string, policy: NetworkConfig, secretsMib: number): { claim?: () => Claimable | undefined; why(): string | undefined } {
    const pool = this.#pool;
    if (!pool) return { why: () => undefined };
    let reason: string | undefined;
    if (!isDeepStrictEqual(policy, this.#server)) reason = "its bosun.yml narrows the network policy (a pooled network has the server's)";
    else if (!pool.matches(spec.limits)) reason = "its limits are not the pool's";
    else if (secretsMib > 1) reason = 'its secrets need more than the pooled 1 MiB';
    if (reason) return { why: () => reason };
    let asked = false;
    let got = false;
    return {
      claim: () => {
        asked = true;
        const entry = pool.take(imageId, spec.limits);
        got = entry !== undefined;
        return entry;
      },
      why: () => (asked && !got ? 'the pool had no ready sandbox of its image' : undefined),
    };
  }

  /** The build adopts a claimed entry: its workspace goes into the entry's volume now; the sandbox is the stage's. */
  async #adopt(spec: StepSpec, entry: WarmEntry, imageId: string, key: string): Promise<Sandbox> {
    try {
      await this.#volumes.ensure(entry.key, spec.workspace, imageId, spec.buildId);
    } catch (err) {
      await removeContainer(entry.container).catch(() => undefined);
      throw engineError(`could not fill the claimed warm sandbox ${entry.name} for build ${spec.buildId}`, err);
    }
    this.#opts.log.info({ buildId: spec.buildId, stage: spec.stage, entry: entry.entryId }, 'Build claimed a warm sandbox');
    return {
      id: entry.container.id,
      container: entry.container,
      key,
      buildId: spec.buildId,
      stage: spec.stage,
      where: `bosun: the step runs in a warm sandbox ${entry.name} (claimed from the pool)`,
      oomKills: 0,
      remove: () => removeContainer(entry.container),
    };
  }

  /** Removes the stage's sandboxes (this process's and any an earlier process left). */
  async endStage(buildId: string, stage: string): Promise<void> {
    if (this.#opts.sandbox !== 'stage') return;
    await this.#stageEnds.run(buildId, async () => {
      await this.#sandboxes.removeWhere((s) => s.buildId === buildId && s.stage === stage);
      await removeSandboxContainers(this.#opts.docker, this.#opts.instanceId, { [labelKeys.build]: buildId, [labelKeys.stage]: stage });
    });
  }

  /** A service as a container on the build's network, aliased by its name (`startServiceContainer`). */
  async startService(spec: ServiceSpec): Promise<ServiceHandle> {
    const { key } = await this.#resources.key(spec.buildId);
    const networkId = await this.#networks.ensure(key, this.#policyOf(spec.network));
    return startServiceContainer(this.#opts.docker, spec, { instanceId: this.#opts.instanceId, networkId });
  }

  async destroyRef(ref: string): Promise<void> {
    if (parseSandboxRef(ref)) return this.#sandboxes.destroyRef(ref);
    const id = ref.startsWith('docker:') ? ref.slice('docker:'.length) : ref;
    await ignoreNotFound(() => this.#opts.docker.getContainer(id).remove({ force: true }));
  }

  async inspectRef(ref: string): Promise<StepFate> {
    if (parseSandboxRef(ref)) return this.#sandboxes.inspectRef(ref);
    const info = await this.#inspect(ref);
    return info ? fateOf(info) : { state: 'gone', detail: 'its container no longer exists' };
  }

  async reattach(ref: string, timeoutSec: number): Promise<StepHandle | undefined> {
    // An exec's output is not kept by the engine: a sandbox step cannot be taken back.
    if (parseSandboxRef(ref)) return undefined;
    const info = await this.#inspect(ref);
    if (!info) return undefined;
    const fate = fateOf(info);
    if (fate.state === 'gone') return undefined;
    const startedAt = Date.parse(info.State.StartedAt);
    const elapsedMs = Number.isFinite(startedAt) ? Date.now() - startedAt : 0;
    return DockerStep.reattached(this.#opts.docker, this.#opts.docker.getContainer(info.Id), {
      running: fate.state === 'running',
      remainingMs: timeoutSec * 1000 - elapsedMs,
      timeoutGraceMs: this.#opts.timeoutGraceMs ?? 10_000,
    });
  }

  async #inspect(ref: string): Promise<Docker.ContainerInspectInfo | undefined> {
    const id = ref.startsWith('docker:') ? ref.slice('docker:'.length) : ref;
    try {
      return await this.#opts.docker.getContainer(id).inspect();
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw engineError(`could not inspect step container ${id}`, err);
    }
  }

  async reap(keep: (labels: Record<string, string>) => boolean): Promise<string[]> {
    const { docker, instanceId } = this.#opts;
    const containers = await docker.listContainers({
      all: true,
      filters: JSON.stringify({ label: [`${labelKeys.managed}=true`, `${labelKeys.instance}=${instanceId}`] }),
    });
    const removed: string[] = [];
    for (const info of containers) {
      let labels = info.Labels;
      // A warm sandbox a build of this process claimed is that build's stage sandbox (its labels are the pool's).
      const claimed = labels['bosun.role'] === 'pool' ? this.#sandboxes.find(info.Id) : undefined;
      if (claimed) labels = { ...labels, [labelKeys.build]: claimed.buildId, [labelKeys.stage]: claimed.stage, [labelKeys.step]: sandboxStepName };
      else if (labels['bosun.role'] !== undefined) continue;
      if (keep(labels)) continue;
      const ref = `docker:${info.Id}`;
      const steps = this.#sandboxes.refsIn((s) => s.id === info.Id);
      await removeContainer(docker.getContainer(info.Id));
      removed.push(ref, ...steps);
    }
    if (removed.length > 0) this.#opts.log.info({ removed }, 'Reaped step containers');
    return removed;
  }

  /** Per-build resources (network, workspace volume, egress rules) of this instance's builds `isLive` rejects (what crashed builds left behind, R22). */
  async reapBuilds(isLive: (buildId: string) => boolean): Promise<string[]> {
    const { docker, instanceId, log } = this.#opts;
    // Pool entries are not builds: they have a sweep of their own (`sweepPool`), run with the pool
    // off too, so that turning it off leaves nothing behind once the builds that claimed are gone.
    const cleaned = await reapOwnedBuilds(
      docker,
      instanceId,
      (id) => isPoolKey(id) || isLive(id),
      (id) => this.cleanupBuild(id),
    );
    if (!this.#resources.enabled) await removeStaleClaimMarkers(docker, instanceId, isLive);
    const liveKeys = await sweepPool({
      docker,
      instanceId,
      own: this.#pool?.ownKeys() ?? new Set(),
      log,
      remove: async (key) => {
        await this.#volumes.remove(key);
        await this.#networks.remove(key);
      },
    });
    const rulesOnly = await this.#networks.sweepRules((id) => (isPoolKey(id) ? liveKeys.has(id) : isLive(id)));
    return [...new Set([...cleaned, ...rulesOnly.filter((id) => !isPoolKey(id))])];
  }

  /** The build's workspace volume (see `volumeTar`). */
  async readWorkspace(req: WorkspaceRead): Promise<WorkspaceTar> {
    const key = await this.#resources.existingKey(req.buildId);
    return volumeTar(this.#opts.docker, this.#opts.instanceId, req, key === req.buildId ? {} : { key });
  }

  async cleanupBuild(buildId: string): Promise<void> {
    await this.#stageEnds.settled(buildId);
    // Services still attached would keep the network from going.
    await removeServiceContainers(this.#opts.docker, this.#opts.instanceId, { build: buildId });
    await this.#sandboxes.removeWhere((s) => s.buildId === buildId);
    await removeSandboxContainers(this.#opts.docker, this.#opts.instanceId, { [labelKeys.build]: buildId });
    const key = await this.#resources.existingKey(buildId);
    // A claimed warm sandbox carries the pool's labels, not the build's.
    if (key !== buildId) await removeSandboxContainers(this.#opts.docker, this.#opts.instanceId, { [poolLabelKeys.key]: key });
    await this.#volumes.remove(key, buildId);
    await this.#networks.remove(key);
    await this.#resources.forget(buildId);
  }

  /** Removes the warm sandboxes no build claimed (the pool's); nothing else. */
  async close(): Promise<void> {
    await this.#pool?.close();
  }
}

/** Write the payload to the attach stream and half-close it: the container's stdin then ends. */
function writeAndClose(stream: NodeJS.ReadWriteStream, payload: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.once('error', reject);
    stream.end(payload, () => {
      stream.off('error', reject);
      resolve();
    });
  });
}

/** A container's state as a step's fate. A container created but never started never ran. */
function fateOf(info: Docker.ContainerInspectInfo): StepFate {
  const { Status: status, ExitCode: exitCode, OOMKilled: oom } = info.State;
  if (status === 'running' || status === 'paused' || status === 'restarting') return { state: 'running' };
  if (status === 'exited' || status === 'dead') return oom && exitCode !== 0 ? { state: 'exited', exitCode, reason: 'oom' } : { state: 'exited', exitCode };
  return { state: 'gone', detail: status === 'created' ? 'its container was never started' : `its container is ${status}` };
}

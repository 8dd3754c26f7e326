import type { NetworkRequest } from '../domain/plan.js';
import type { WorkspaceRead, WorkspaceTar } from './workspace-files.js';

/**
 * The executor contract: how one step of a build runs somewhere (a local process, a
 * container, a one-shot Swarm service). The pipeline depends only on this file.
 *
 * Lifecycle:  start() → output (read until it ends) → wait() → destroy().
 *
 * - `start(spec)` begins the step and returns at once with a handle; it never waits for
 *   the step to finish. If `start` throws, nothing is left running, and `destroy` of any
 *   half-made resources is the executor's job before it throws.
 * - `handle.output` yields every byte the step wrote, stdout and stderr tagged, in the order
 *   the executor observed them, exactly once. It ends after the step has ended.
 * - `handle.wait()` resolves once with the outcome; it never rejects for a step's own failure
 *   (non-zero exit, timeout, OOM are outcomes). It rejects only when the executor itself
 *   lost track of the step (infrastructure), with an `InfraError`.
 * - `handle.stop(graceMs)` asks the step to end: SIGTERM, then SIGKILL after `graceMs`.
 *   The outcome then has `reason: 'cancelled'`. Safe to call after the step ended.
 * - The executor enforces `spec.timeoutSec` itself (stop with grace, `reason: 'timeout'`).
 * - `handle.destroy()` removes everything the step created (process group, container,
 *   service). It is idempotent: safe twice, safe after a failed start, safe concurrently.
 * - `reap(keep)` removes resources this Bosun instance created that `keep` does not claim
 *   (reconciliation after a crash, R22). Resources carry the labels in `StepSpec.labels`.
 * - `reapBuilds(isLive)` removes the per-build resources (see `cleanupBuild`) of builds `isLive`
 *   rejects: what builds that crashed before `cleanupBuild` left behind. Returns the build IDs.
 * - After a crash (resume): `inspectRef(ref)` says what became of a step an earlier process
 *   started, without changing it; `reattach(ref, timeoutSec)` takes it back, when the executor
 *   can: a handle like `start`'s whose output is the step's whole output from its beginning
 *   (as far as the engine kept it) and whose `wait()` gives its real outcome (at once when it
 *   had already ended). `timeoutSec` counts from the step's own start.
 * - `cleanupBuild(buildId)` removes what the executor made once per build and shared by its
 *   steps (container executors: the build's network and workspace volume). Call it when the
 *   build is finished, after its steps were destroyed. Idempotent; a no-op when nothing exists.
 *
 * Concurrency: one executor instance serves many steps at once; handles are independent.
 */
export interface Executor {
  readonly name: ExecutorName;
  /**
   * The network policy its steps run under, in one line (`egress=internet (…)`); the pipeline
   * prints it at the top of each step's log so a refused connection can be explained.
   */
  readonly network?: string;
  /**
   * The policy line for a build whose bosun.yml narrows the server's policy (`request`): the
   * effective policy, and what of the request was ignored and why. Executors without it
   * (`local`) cannot enforce a narrowing and refuse a step that carries one.
   */
  networkFor?(request: NetworkRequest | undefined): string;
  start(spec: StepSpec): Promise<StepHandle>;
  /** Destroy a step by its `handle.ref` from an earlier run (possibly another process). */
  destroyRef(ref: string): Promise<void>;
  /** Remove owned resources not claimed by `keep` (given the resource's labels). Returns refs removed. */
  reap(keep: (labels: Record<string, string>) => boolean): Promise<string[]>;
  /** Remove the per-build resources of builds `isLive` rejects. Returns the build IDs cleaned. */
  reapBuilds(isLive: (buildId: string) => boolean): Promise<string[]>;
  /** What became of the step behind `ref` (started by this or an earlier process). Read-only. */
  inspectRef(ref: string): Promise<StepFate>;
  /** A handle over the step behind `ref`, from its first byte of output; undefined when not possible. */
  reattach(ref: string, timeoutSec: number): Promise<StepHandle | undefined>;
  /** Remove the per-build resources shared by the build's steps (network, workspace volume). */
  cleanupBuild(buildId: string): Promise<void>;
  /**
   * Start a service container for a stage (see `ServiceSpec`); absent on executors that cannot
   * isolate one (`local`). Returns once the service is created and started, before it is ready.
   * It first removes what an earlier run of the same service (same build, stage and name) left
   * (a resumed stage recreates its services). If it throws, nothing of this start is left.
   * `reap` and `cleanupBuild` remove services like steps (their labels name the step
   * `service:<name>` and carry `bosun.service`).
   */
  startService?(spec: ServiceSpec): Promise<ServiceHandle>;
  /**
   * A tar of the build's workspace as its steps left it (the files `req.wants`), wherever they
   * ran: see `workspace-files.ts` for the contract. Call it after the step ended, before
   * `cleanupBuild`. Artifacts and test reports are read through it (all three executors have it;
   * optional only for test fakes).
   */
  readWorkspace?(req: WorkspaceRead): Promise<WorkspaceTar>;
  /**
   * The stage `stage` of build `buildId` has ended (every step destroyed): remove what the
   * executor kept for its steps (container executors in `sandbox: stage` mode: the stage's
   * sandboxes, see docs/sandbox.md). Idempotent; absent or a no-op where steps share nothing.
   * The pipeline may advance the build (and so start its `cleanupBuild`) before this settles:
   * `cleanupBuild` waits for this process's `endStage` of that build first.
   */
  endStage?(buildId: string, stage: string): Promise<void>;
  /** Release connections and timers. */
  close(): Promise<void>;
}

export type ExecutorName = 'local' | 'docker' | 'swarm';

export interface StepSpec {
  buildId: string;
  stage: string;
  step: string;
  /** Image as named in the spec; container executors resolve it to an ID or digest. */
  image: string;
  /** Run in order by `/bin/sh -e`; each is echoed as `+ cmd` before it runs. */
  commands: string[];
  env: Record<string, string>;
  /** Absolute path of the build's workspace on this host (a git checkout of the build's sha). */
  workspace: string;
  /** Working directory relative to the workspace. */
  workdir: string;
  timeoutSec: number;
  limits: StepLimits;
  /** Labels put on every resource created (build, stage, step, instance). */
  labels: Record<string, string>;
  /** Where the step may run, for executors that place steps on nodes (swarm); others ignore it. */
  placement?: StepPlacement;
  /**
   * Secrets this step gets (trusted builds only; the pipeline decides). Each is a file
   * `$BOSUN_SECRETS_DIR/<name>` in a tmpfs (`/run/secrets` in containers), readable only by the
   * step's user; with `env`, the step's script also exports that variable from the file before
   * the first command. A value never appears in a container or service spec, an env list, a
   * label or a command line (`docker inspect` shows none).
   */
  secrets?: StepSecret[];
  /**
   * The build's narrowing of the server's egress policy (bosun.yml `network:`). Container
   * executors run the build's network under the server's policy narrowed by it (never wider:
   * see `narrowPolicy`); an executor that cannot enforce it refuses the step (`UserError`).
   */
  network?: NetworkRequest;
  /**
   * Container executors with `sandbox: stage`: run the step in a container (service) of its own,
   * as with `sandbox: step`, never in the stage's shared sandbox (`fresh: true` in the spec).
   */
  fresh?: boolean;
}

export interface StepSecret {
  /** File name under the secrets directory (`[A-Za-z_][A-Za-z0-9_]*`). */
  name: string;
  value: string;
  /** Variables exported from the file inside the step (`TWINE_PASSWORD`). */
  env: string[];
}

/** Where containers see their secrets (a tmpfs); the local executor uses a private temp dir. */
export const containerSecretsDir = '/run/secrets';
/** The variable every step with secrets gets: the directory holding its secret files. */
export const secretsDirVariable = 'BOSUN_SECRETS_DIR';

export interface StepPlacement {
  /** Swarm constraints (`node.labels.zone==b`), from server config and the stage's labels. */
  constraints: string[];
  /**
   * The node the stage's earlier steps ran on (their workspace is there). Honoured while that
   * node is ready and active; otherwise the step goes wherever the constraints allow.
   */
  node?: string;
}

/** The node a step ran on (multi-node executors). */
export interface StepNode {
  id: string;
  hostname: string;
}

export interface StepLimits {
  /** CPUs as a decimal (0.5 = half a core). */
  cpus: number;
  memoryBytes: number;
  pids: number;
}

export interface OutputChunk {
  stream: 'stdout' | 'stderr';
  data: Buffer;
}

export interface StepOutcome {
  exitCode: number;
  /**
   * Set when the step did not simply exit: `timeout`, `cancelled`, `oom`, `node_lost`, or
   * `unschedulable` (no node could take it for the executor's placement wait).
   */
  reason?: 'timeout' | 'cancelled' | 'oom' | 'node_lost' | 'unschedulable';
  /** Where it ran, when the executor places steps on nodes. */
  node?: StepNode;
  /** What happened, in a sentence, when `reason` needs one (`node_lost`: which node, how). */
  detail?: string;
}

/**
 * What became of a step, as its executor can tell after a crash:
 * - `running`: it still runs;
 * - `exited`: it ended by itself with `exitCode` (`reason: 'oom'` when the kernel killed it);
 * - `gone`: nothing to tell by (removed, never started, or its process died with its worker).
 *   `detail` says which, when the executor knows.
 */
export interface StepFate {
  state: 'running' | 'exited' | 'gone';
  exitCode?: number;
  reason?: 'oom';
  detail?: string;
}

export interface StepHandle {
  /** Stable reference, persisted on the step so another process can destroy it. */
  readonly ref: string;
  /** Where the step runs, in a sentence for its log (`ran in the stage's sandbox …`), when the executor has a choice of paths. */
  readonly where?: string;
  readonly output: AsyncIterable<OutputChunk>;
  wait(): Promise<StepOutcome>;
  stop(graceMs: number): Promise<void>;
  destroy(): Promise<void>;
}

/** Label keys carried by every executor resource. */
export const labelKeys = {
  managed: 'bosun.managed',
  instance: 'bosun.instance',
  build: 'bosun.build',
  stage: 'bosun.stage',
  step: 'bosun.step',
  /** On service containers only: the service's name (their `step` label is `service:<name>`). */
  service: 'bosun.service',
  /** On stage sandboxes only (`stage`); their `step` label is `sandboxStepName`. */
  sandbox: 'bosun.sandbox',
} as const;

/**
 * The pseudo-step a stage sandbox's labels name (docs/sandbox.md): the reconciler keeps it
 * while its stage runs. Step names cannot contain `:`, so it never meets a real step.
 */
export const sandboxStepName = 'sandbox:stage';

/**
 * The pseudo-step a service's log and resources are keyed by: `service:<name>`. Step names
 * cannot contain `:`, so it never meets a real step.
 */
export function serviceStepName(service: string): string {
  return `service:${service}`;
}

/**
 * A sidecar container for a stage's steps (a database, a cache): on the build's network,
 * reachable there by `name` (a DNS label), with the isolation of a step (no capabilities,
 * non-root, read-only root with tmpfs /tmp and HOME, limits) but no workspace.
 */
export interface ServiceSpec {
  buildId: string;
  stage: string;
  /** Its host name on the build's network. */
  name: string;
  /** Image as named in the spec; resolved like a step's (a missing image is a `UserError`). */
  image: string;
  env: Record<string, string>;
  /** Replaces the image's CMD; absent: the image's CMD. */
  command?: string[];
  ready: ServiceReadyProbe;
  limits: StepLimits;
  /** Labels put on its resources (build, stage, `step: service:<name>`, service, instance). */
  labels: Record<string, string>;
  /** The build's narrowing of the egress policy, as on `StepSpec` (a service may make the build's network). */
  network?: NetworkRequest;
}

/**
 * When a service is ready: `run` (shell commands inside it exit 0), `tcp` (the port listens
 * inside it), `image` (the image's HEALTHCHECK, else once it runs). After `timeoutSec` without
 * being ready it is `timeout`; once ready, `retries` failed probes in a row make it unhealthy.
 */
export type ServiceReadyProbe = ({ kind: 'run'; commands: string[] } | { kind: 'tcp'; port: number } | { kind: 'image' }) & {
  intervalSec: number;
  timeoutSec: number;
  retries: number;
};

/** A service's state as the executor sees it. */
export type ServiceState =
  | { state: 'ready' }
  | { state: 'starting' }
  /** Ended or failing: `exited` (its process ended), `unhealthy` (probes failed), `timeout` (never ready in time). */
  | { state: 'exited' | 'unhealthy' | 'timeout'; detail: string };

export interface ServiceHandle {
  /** Stable reference (`docker:<containerId>`), destroyable with `destroyRef`. */
  readonly ref: string;
  /** Everything the service writes, tagged, until it ends or is destroyed. */
  readonly output: AsyncIterable<OutputChunk>;
  /** Resolves once ready or once it never will be (`exited`, `unhealthy`, `timeout`); never rejects for the service's own failure. */
  ready(): Promise<ServiceState>;
  /** Its state now (after `ready`: `ready`, or why it no longer is). */
  check(): Promise<ServiceState>;
  /** Removes it (SIGKILL). Idempotent; ends `output`. */
  destroy(): Promise<void>;
}

import type { RunStatus } from './status.js';
import type { NetworkRequest, TriggerEvent, PlanCache, PlanCheckpoint, PlanPublish, PlanService, PlanStep, ResourceRequest } from './plan.js';
import type { Publication } from './publication.js';
import type { TestSummary } from './test-report.js';
import type { ArtifactFile } from './artifact.js';

/** Who asked, identified by a stable id on its platform (never a display name). */
export interface Actor {
  /** Platform-scoped stable id, e.g. `slack:T1/U123`, `github:583231`, `cli:alice`. */
  id: string;
  /** Human-readable name, for display only. */
  name: string;
}

export interface Trigger {
  event: TriggerEvent;
  /** Where the request came from: `cli`, `api`, `slack`, `zulip`, `github`, `web`. */
  source: string;
  actor: Actor;
  /** Dedupe key from the source (GitHub delivery id, Slack event id), if any. */
  deliveryId?: string;
  /** Pull request number, when the build is for one. */
  pullRequest?: number;
  /**
   * A pull request's head branch name as its author named it, when `ref` is the fetchable
   * `pull/N/head` (forks, ok-to-test): branch filters see this name, not `pull/N/head`.
   */
  headBranch?: string;
  /** True when the change comes from an untrusted author (fork / outsider): no secrets. */
  untrusted?: boolean;
  /** A pull request's base branch (its caches are the ones the build may read). */
  baseRef?: string;
  /** Where chat replies for this build go (channel/thread), opaque to the pipeline. */
  chat?: { platform: string; channel: string; thread?: string };
  /** For a downstream build: the upstream repository and commit it tests against. */
  upstream?: { repo: string; sha: string };
}

export interface StepRun {
  name: string;
  status: RunStatus;
  image: string;
  /** What to run, as compiled from the spec when the build started. */
  plan: PlanStep;
  exitCode?: number;
  /** Why it ended, when not a plain exit: `timeout`, `oom`, `cancelled`, `worker_lost`, `node_lost`, `service_failed` (a stage service let it down; it did not run). */
  reason?: string;
  startedAt?: string;
  finishedAt?: string;
  /** How many times this step has been started (resumes and retries included). */
  runs: number;
  /** Executor handle of the current run, for reattach/cleanup after a crash. */
  executorRef?: string;
  /** Which executor ran it. */
  executor?: string;
  /** The node it ran on (swarm with several nodes): stable id and hostname. */
  node?: { id: string; hostname: string };
  /** A sentence on why it ended when `reason` is not enough (`node_lost`: which node, how). */
  detail?: string;
}

/** A person's decision on a checkpoint. */
export interface Decision {
  actor: Actor;
  decision: 'pass' | 'fail' | 'timeout';
  at: string;
  source: string;
}

/** Live state of a stage's manual checkpoint, once the stage reached it. */
export interface CheckpointState {
  /** When it fails by itself. */
  deadline: string;
  /** Who started the build: may never pass its checkpoint (R9). */
  requestedBy: string;
  /** Passes needed (N of the group), from server config. */
  required: number;
  approvals: Decision[];
  /** The final decision, once made. */
  decision?: Decision;
  /** The commit the approval is bound to (R9). */
  sha: string;
  /** Lease held for the tester, if the checkpoint asked for a resource. */
  leaseId?: string;
  resourceLabel?: string;
}

export interface StageRun {
  name: string;
  status: RunStatus;
  needs: string[];
  labels: string[];
  resources: ResourceRequest[];
  checkpoint?: PlanCheckpoint;
  checkpointState?: CheckpointState;
  /** Service containers started before the steps (their logs: pseudo-steps `service:<name>`). */
  services?: PlanService[];
  /** The stage's cache (`cache:`), restored before its first step and saved after it succeeds. */
  cache?: PlanCache;
  steps: StepRun[];
  startedAt?: string;
  finishedAt?: string;
  /** Why a queued stage is not moving, for people (no worker has its labels); shown while it stays queued. */
  notice?: string;
  /** Globs collected after the stage's last step that ran (`artifacts:` on the stage). */
  artifacts?: string[];
  /** JUnit globs read after the stage's last step that ran (`reports:` on the stage). */
  reports?: string[];
  /** Totals and failing tests from the stage's JUnit reports (`reports:`), once read. */
  tests?: TestSummary;
  /** What Bosun publishes once the steps succeed (`publish:`); results go to `Build.published`. */
  publish?: PlanPublish[];
  /** Why publishing failed (the stage failed for it), naming the registry or index. */
  publishError?: string;
}

/** A checkpoint that asks for a go/no-go decision (Approve / Reject) rather than a manual test (Pass / Fail). */
export function isApproval(build: Build, stage: string): boolean {
  return build.stages.find((s) => s.name === stage)?.checkpoint?.kind === 'approval';
}

export interface BuildError {
  code: string;
  /** Everything to show; may span lines (every error of an invalid spec, one per line). */
  message: string;
  /** The individual problems, when there are several (spec errors): sinks with a length limit show the count and the first. */
  details?: string[];
}

export interface Build {
  id: string;
  /** Repository key from server config (e.g. `demo` or `acme/api`). */
  repo: string;
  ref: string;
  sha: string;
  trigger: Trigger;
  status: RunStatus;
  stages: StageRun[];
  /** Path of the spec file used, once read. */
  specPath?: string;
  /** The repository's narrowing of the server's egress policy (bosun.yml `network:`), from the plan. */
  network?: NetworkRequest;
  error?: BuildError;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** Incremented by every retry of this build. */
  attempt: number;
  /** The build this one re-runs, for a whole-build retry. */
  retryOf?: string;
  /** Deliverables this build published (images by digest, Python distributions), in order. */
  published?: Publication[];
  /** Files kept from the build's workspaces (`artifacts:`), in the order collected. */
  artifacts?: ArtifactFile[];
  /** Optimistic-concurrency version; bumped on every write. */
  version: number;
}

/** Stage and step lookup helpers. */
export function findStage(build: Build, stage: string): StageRun | undefined {
  return build.stages.find((s) => s.name === stage);
}

export function findStep(build: Build, stage: string, step: string): StepRun | undefined {
  return findStage(build, stage)?.steps.find((s) => s.name === step);
}

export function shortSha(sha: string): string {
  return sha.slice(0, 7);
}

import type { BuildStore } from '../storage/build-store.js';
import type { EventBus } from '../events/event-bus.js';
import type { LogStore } from '../logs/log-store.js';
import type { Executor } from '../executor/executor.js';
import type { AuditLog } from '../storage/audit-log.js';
import type { Logger } from '../logger.js';
import type { ServerConfig } from '../config.js';
import type { LeaseManager } from '../leases/lease-manager.js';
import type { GitMirrors } from '../git/git-mirrors.js';
import type { PlanCache } from './plan-cache.js';
import type { WorkspaceFiles } from '../cache/workspace-files.js';
import type { StageDeployer } from './deploy-stage.js';

/** How the pipeline hands work to workers; implemented on BullMQ in `queue/`. */
export interface WorkQueue {
  /** Ask for the build to be looked at again (idempotent; duplicates are harmless). */
  advance(buildId: string): Promise<void>;
  /** Run one stage on a worker whose labels cover `labels`. Deduplicated on (build, stage, attempt). */
  runStage(buildId: string, stage: string, attempt: number, labels: string[]): Promise<void>;
  /** Records that a worker is alive on this stage (read by the watchdog). */
  heartbeat?(buildId: string, stage: string): Promise<void>;
  /**
   * Take or renew the stage's claim for `owner` for `ttlMs`: true when `owner` holds it now,
   * false when another owner holds a live claim. A worker that dies lets it lapse. When it
   * holds, it also records the heartbeat (as `heartbeat` does), in the same round trip.
   */
  claimStage?(buildId: string, stage: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Drop the claim if `owner` still holds it. */
  releaseStage?(buildId: string, stage: string, owner: string): Promise<void>;
}

/** Cancellation signals to whichever worker runs a build's steps. */
export interface ControlChannel {
  cancel(buildId: string): Promise<void>;
}

export interface PipelineDeps {
  config: ServerConfig;
  store: BuildStore;
  bus: EventBus;
  logs: LogStore;
  audit: AuditLog;
  queue: WorkQueue;
  control: ControlChannel;
  /** Secret values by name; every one is redacted from every sink (R13). */
  secrets: Record<string, string>;
  log: Logger;
  /** Resource leases (R25); absent when the server config has no pools. */
  leases?: LeaseManager;
  /**
   * This instance's repository mirrors (`<dataDir>/git-mirrors`, see `gitMirrorsDir`): its
   * builds share fetches through it. Owned by the app wiring, never by a module, so two Bosun
   * instances in one process (tests) share nothing but what is on disk.
   */
  mirrors: GitMirrors;
  /** Plans this instance compiled, by spec bytes and trigger (owned like `mirrors`). */
  plans: PlanCache;
}

/** What a stage worker needs on top: something to run steps with. */
export interface WorkerDeps extends PipelineDeps {
  executor: Executor;
  cancellations: CancelWatcher;
  /** Labels this worker's resources carry (its instance id). */
  instanceId: string;
  /** Moves files in and out of the workspaces its steps see (stage caches); absent: `cache:` is refused. */
  workspaceFiles?: WorkspaceFiles;
  /** Deploys for deploy stages (`deploy:`); absent when server config has no environments. */
  deployer?: StageDeployer;
}

/** Tells a worker when a build it is running gets cancelled. */
export interface CancelWatcher {
  /** Calls `onCancel` at most once if the build is cancelled; returns an unsubscribe. */
  watch(buildId: string, onCancel: () => void): () => void;
}

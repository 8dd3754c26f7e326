/**
 * The execution plan: what a build will run, compiled from `bosun.yml` for one trigger.
 * Pure data; produced by `src/spec/compile-plan.ts`, consumed by the pipeline.
 */
export interface ResourceRequest {
  /** Pool name from server config (e.g. `android`). */
  pool: string;
  /** Every attribute must be present on the leased item (e.g. `pixel-7`). */
  attributes: string[];
}

export interface PlanStep {
  name: string;
  /** Image reference as written in the spec (resolved to an ID/digest by the executor). */
  image: string;
  /** Shell commands run in order inside the step's container, stopping at the first failure. */
  commands: string[];
  env: Record<string, string>;
  /** Clamped by the server's maximum at run time (R17). */
  timeoutSec: number;
  /** Relative to the workspace root. */
  workdir: string;
  /**
   * Secrets the step asks for (its stage's and its own), by name, each with the variables the
   * step wants it exported as. Present only when the step asks for any. Names only: values come
   * from server config at run time, for trusted builds of repositories granted them.
   */
  secrets?: PlanSecret[];
  /** Safe to run again when its fate after a crash is unknown (`idempotent: true`); absent = false. */
  idempotent?: boolean;
}

export interface PlanSecret {
  name: string;
  /** Variables set from the secret's file inside the step (may be empty: the file only). */
  env: string[];
}

export interface PlanCheckpoint {
  instructions: string;
  checklist: string[];
  timeoutSec: number;
  /** Approver group name; its members come from server config, never from the spec. */
  approvers: string;
  resource?: ResourceRequest;
}

/** A sidecar container a stage asks for (declared in the spec; executors may support it later). */
export interface PlanService {
  name: string;
  image: string;
  env: Record<string, string>;
}

export interface PlanStage {
  name: string;
  /** Stages that must succeed first. */
  needs: string[];
  steps: PlanStep[];
  /**
   * Environment name (from server config) this stage deploys to. Never set yet: the spec's
   * `deploy:` is refused as "not supported yet" until deploys are real.
   */
  deploy?: string;
  resources: ResourceRequest[];
  checkpoint?: PlanCheckpoint;
  /** Worker labels required to run this stage (e.g. `macos`); empty = any Linux worker. */
  labels: string[];
  /** Present only when the spec declares services. */
  services?: PlanService[];
}

export interface ExecutionPlan {
  /** Path of the spec file in the repository (`bosun.yml` or `.bosun.yml`). */
  specPath: string;
  stages: PlanStage[];
  /** Stages in the spec that this trigger does not run, and why. */
  skipped: { name: string; reason: string }[];
}

/** What the spec's `on:` filters are matched against. */
export interface TriggerContext {
  event: TriggerEvent;
  branch: string;
}

export type TriggerEvent = 'push' | 'pull_request' | 'manual' | 'promotion' | 'downstream';

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
  /** Runs in a container of its own, not the stage's sandbox (`fresh: true`; docs/sandbox.md); absent = false. */
  fresh?: boolean;
  /** Workspace-relative globs collected after the step (`artifacts:`); absent = none. */
  artifacts?: string[];
  /** Workspace-relative globs of JUnit XML files read after the step (`reports:`); absent = none. */
  reports?: string[];
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
  /** `approval`: a go/no-go decision (Approve / Reject, e.g. a promotion); absent: a manual test (Pass / Fail). */
  kind?: 'approval';
  resource?: ResourceRequest;
}

/**
 * A sidecar container the stage's steps need (a database, a cache), started before the first
 * step on the build's network and reachable there by `name`.
 */
export interface PlanService {
  /** A DNS label: the service's host name on the build's network. */
  name: string;
  /** Image reference as written in the spec (resolved to an ID by the executor). */
  image: string;
  env: Record<string, string>;
  /** Replaces the image's CMD (the ENTRYPOINT stays); absent: the image's CMD. */
  command?: string[];
  ready: PlanServiceReady;
  /** Asked-for limits, clamped by the server's step limits at run time. */
  limits: { cpus?: number; memoryMb?: number };
}

/**
 * When a service is ready. `run`: shell commands run inside its container exit 0; `tcp`: the
 * port listens inside its container; `image`: the image's own HEALTHCHECK, or, when it has
 * none, as soon as the container runs.
 */
export type PlanServiceReady = ({ kind: 'run'; commands: string[] } | { kind: 'tcp'; port: number } | { kind: 'image' }) & {
  intervalSec: number;
  /** How long the steps wait for it. */
  timeoutSec: number;
  /** Failed probes in a row, once ready, that make it unhealthy. */
  retries: number;
};

/**
 * A deliverable Bosun builds and uploads after the stage's steps succeed (`publish:`), with
 * every default filled in. Where it goes (registry, index, credentials) comes from server config.
 */
export type PlanPublish =
  | {
      kind: 'docker';
      /** Repository with its registry, no tag: `registry.example/acme/api`. */ image: string;
      /** Relative to the repository root. */ context: string;
      /** Relative to `context`. */ dockerfile: string;
    }
  | {
      kind: 'pypi';
      /** Repository name from server config. */ repository: string;
      /** Relative to the repository root; its `dist/` holds the files. */ packageDir: string;
    };

/**
 * The stage's cache (`cache:`): restored into the workspace before its first step, saved after
 * it succeeds when the rendered key missed. See src/cache/ and docs/caches.md.
 */
export interface PlanCache {
  /** Key template as written: literal text and `{{ hashFiles('glob', …) }}`, rendered at run time. */
  key: string;
  /** Paths relative to the workspace (validated by the schema). */
  paths: string[];
  /** Key prefixes tried in order on a miss. */
  restoreKeys: string[];
}

export interface PlanStage {
  name: string;
  /** Stages that must succeed first. */
  needs: string[];
  steps: PlanStep[];
  resources: ResourceRequest[];
  checkpoint?: PlanCheckpoint;
  /** Worker labels required to run this stage (e.g. `macos`); empty = any Linux worker. */
  labels: string[];
  /** Present only when the spec declares services. */
  services?: PlanService[];
  /** Present only when the spec declares `publish:`. */
  publish?: PlanPublish[];
  /** Present only when the spec declares a cache. */
  cache?: PlanCache;
  /** Globs collected after the stage's last step that ran (`artifacts:` on the stage). */
  artifacts?: string[];
  /** JUnit globs read after the stage's last step that ran (`reports:` on the stage). */
  reports?: string[];
  /**
   * A deploy stage (`deploy:`): the environment of server config it deploys this build's
   * published image to (the stage has no steps). See docs/deploys.md.
   */
  deploy?: string;
}

/**
 * A repository's narrowing of the server's egress policy (`network:` at the top of bosun.yml).
 * The server's policy is the ceiling (R8): see src/executor/container/egress-narrowing.ts.
 */
export interface NetworkRequest {
  egress?: 'internet' | 'allowlist' | 'none';
  allow?: string[];
  deny?: string[];
}

export interface ExecutionPlan {
  /** Path of the spec file in the repository (`bosun.yml` or `.bosun.yml`). */
  specPath: string;
  stages: PlanStage[];
  /** The repository's narrowing of the server's egress policy (`network:`), when it has one. */
  network?: NetworkRequest;
  /** Stages in the spec that this trigger does not run, and why. */
  skipped: { name: string; reason: string }[];
}

/** What the spec's `on:` filters are matched against. */
export interface TriggerContext {
  event: TriggerEvent;
  branch: string;
}

export type TriggerEvent = 'push' | 'pull_request' | 'manual' | 'promotion' | 'downstream';

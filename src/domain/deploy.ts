import type { Actor } from './build.js';

/** Where a deploy is: waiting states, then exactly one outcome. */
export type DeployState = 'awaiting_approval' | 'queued' | 'running' | 'succeeded' | 'failed' | 'rolled_back' | 'superseded' | 'refused';

export const deployOutcomes = ['succeeded', 'failed', 'rolled_back', 'superseded', 'refused'] as const;
export type DeployOutcome = (typeof deployOutcomes)[number];

export function isDeployFinished(state: DeployState): state is DeployOutcome {
  return (deployOutcomes as readonly string[]).includes(state);
}

/**
 * One deploy of a published image (by digest) to an environment: the history record (R10,
 * R21). Bosun only ever deploys `ref` (`image@sha256:…`) taken from a build's `published`.
 */
export interface Deploy {
  id: string;
  environment: string;
  repo: string;
  /** The build that published the image, and its commit. */
  buildId: string;
  sha: string;
  image: string;
  digest: string;
  /** `image@digest`: what the target runs. */
  ref: string;
  /** `deploy` (asked for), `rollback`, `auto` (a push build on the environment's branch). */
  kind: 'deploy' | 'rollback' | 'auto';
  requestedBy: Actor;
  source: string;
  state: DeployState;
  /** Why it ended so (or waits), in plain words. */
  reason?: string;
  /** The approval build holding the checkpoint (environments with `approvers`). */
  approvalBuildId?: string;
  approvals: { actor: Actor; at: string }[];
  /** What the environment ran before this deploy started (for `rollback`). */
  previousRef?: string;
  /** The deploy stage (`deploy:` in bosun.yml) of build `buildId` that requested it, and the build's attempt then. */
  stage?: { name: string; attempt: number };
  /** GitHub deployment id, for its statuses. */
  githubDeploymentId?: number;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  version: number;
}

/** The event every deploy state change puts on the stream (`deploy.status`). */
export interface DeployEvent {
  type: 'deploy.status';
  deployId: string;
  environment: string;
  repo: string;
  buildId: string;
  sha: string;
  ref: string;
  state: DeployState;
  actor: Actor;
  /** A sentence for people: what happened. */
  text: string;
}

/** The `deploy.status` event for the deploy as it is now, saying `text`. */
export function deployEvent(d: Deploy, text: string): DeployEvent {
  return {
    type: 'deploy.status',
    deployId: d.id,
    environment: d.environment,
    repo: d.repo,
    buildId: d.buildId,
    sha: d.sha,
    ref: d.ref,
    state: d.state,
    actor: d.requestedBy,
    text,
  };
}

/** `sha256:abcdef…` → `abcdef123456`. */
export function shortDigest(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

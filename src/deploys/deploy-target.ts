import type { Deploy } from '../domain/deploy.js';

/** How a target ended a deploy. */
export interface TargetResult {
  outcome: 'succeeded' | 'failed' | 'rolled_back';
  /** A sentence for people when it did not succeed (or was already there). */
  reason?: string;
}

/**
 * What a deploy target does, per environment (swarm service, deploy step).
 *
 * Contract:
 * - `apply` makes the environment run `deploy.ref` and resolves when it settled (converged,
 *   rolled back, failed) or `signal` aborted. It is idempotent for one deploy: when the
 *   environment already runs `deploy.ref` (settled), it acts no more and returns `succeeded`.
 *   It never throws for a deploy that failed; it throws only when it could not act at all
 *   (the engine unreachable): the deploy then ends `failed` with that reason.
 * - `observe` says, without acting, how a deploy that some runner applied stands now
 *   (`in_progress` while the target still converges); the watchdog uses it when a runner died
 *   after the target was told to act, so that nothing is applied twice (R21). A target that
 *   cannot tell returns `failed` with a reason.
 * - `current` is what the environment runs now (a digest reference), or null when unknown.
 */
export interface DeployTarget {
  apply(deploy: Deploy, signal: AbortSignal): Promise<TargetResult>;
  observe(deploy: Deploy): Promise<TargetResult | 'in_progress'>;
  current(): Promise<string | null>;
}

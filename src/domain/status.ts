/**
 * Run status shared by builds, stages and steps, with the one transitions table.
 *
 * - `pending`: known but not started (stages and steps waiting their turn).
 * - `queued`: handed to the queue, waiting for a worker.
 * - `running`: a worker is executing it.
 * - `waiting`: paused for a person (checkpoint) or a resource (lease).
 * - `success` / `failed`: finished; `failed` is the user's failure (non-zero exit, bad spec).
 * - `failed_infra`: the infrastructure failed (worker lost, node died); retryable.
 * - `cancelled`: stopped on request.
 * - `skipped`: not run because an earlier stage failed or its filters did not match.
 */
export type RunStatus = 'pending' | 'queued' | 'running' | 'waiting' | 'success' | 'failed' | 'failed_infra' | 'cancelled' | 'skipped';

/** The one transitions table. A status absent from a row's targets cannot follow it. */
export const transitions: Readonly<Record<RunStatus, readonly RunStatus[]>> = {
  pending: ['queued', 'running', 'skipped', 'cancelled', 'failed'],
  queued: ['running', 'cancelled', 'failed', 'failed_infra', 'skipped'],
  running: ['success', 'failed', 'failed_infra', 'cancelled', 'waiting', 'queued', 'skipped'],
  waiting: ['running', 'queued', 'success', 'failed', 'cancelled', 'failed_infra'],
  success: ['pending'],
  failed: ['pending', 'queued'],
  failed_infra: ['pending', 'queued'],
  cancelled: ['pending', 'queued'],
  skipped: ['pending'],
};

const terminal: ReadonlySet<RunStatus> = new Set(['success', 'failed', 'failed_infra', 'cancelled', 'skipped']);

export function isTerminal(status: RunStatus): boolean {
  return terminal.has(status);
}

export function canTransition(from: RunStatus, to: RunStatus): boolean {
  return transitions[from].includes(to);
}

/** Statuses a retry may restart from. */
export function isRetryable(status: RunStatus): boolean {
  return status === 'failed' || status === 'failed_infra' || status === 'cancelled';
}

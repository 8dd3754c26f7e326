import type { StepRun } from './build.js';

const reasons: Record<string, string> = {
  timeout: 'timed out',
  oom: 'killed: out of memory',
  cancelled: 'cancelled',
  node_lost: 'node lost',
  worker_lost: 'worker lost',
  start_failed: 'could not start',
  unschedulable: 'not scheduled',
  service_failed: 'did not run',
};

/**
 * How a finished step ended, for people: `exit 3`, `timed out`, `node lost: node vm
 * (ynxl4hcc3gig) went down while the step ran`. Empty for a success or a step not ended.
 */
export function stepEnding(step: Pick<StepRun, 'status' | 'exitCode' | 'reason' | 'detail'>): string {
  if (step.status === 'success' || (step.exitCode === undefined && !step.reason)) return '';
  const why = step.reason ? (reasons[step.reason] ?? step.reason) : '';
  const head = why || `exit ${step.exitCode}`;
  return step.detail ? `${head}: ${step.detail}` : head;
}

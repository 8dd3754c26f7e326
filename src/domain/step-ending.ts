import type { StepRun } from './build.js';

const reasons: Record<string, string> = {
  timeout: 'timed out',
  oom: 'out of memory',
  cancelled: 'cancelled',
  node_lost: 'node lost',
  worker_lost: 'worker lost',
  start_failed: 'could not start',
  unschedulable: 'not scheduled',
  service_failed: 'did not run',
};

/**
 * How a finished step ended, for people: `exit 3`, `timed out`, `out of memory (limit 512
 * MiB)`, `node lost: node vm (ynxl4hcc3gig) went down while the step ran`. Empty for a success
 * or a step not ended. The kernel's word for an out-of-memory kill is only `Killed`: this is
 * where people learn what it was.
 */
export function stepEnding(step: Pick<StepRun, 'status' | 'exitCode' | 'reason' | 'detail'>): string {
  if (step.status === 'success' || (step.exitCode === undefined && !step.reason)) return '';
  if (step.reason === 'oom') return step.detail ? `out of memory (${step.detail})` : 'out of memory';
  const why = step.reason ? (reasons[step.reason] ?? step.reason) : '';
  const head = why || `exit ${step.exitCode}`;
  return step.detail ? `${head}: ${step.detail}` : head;
}

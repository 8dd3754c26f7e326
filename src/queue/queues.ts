import { z } from 'zod';

/** Queue names. Stage queues are per worker-label set, so `bosun worker --labels macos` takes only its own. */
export const advanceQueueName = 'bosun-advance';

export function stageQueueName(labels: readonly string[]): string {
  if (labels.length === 0) return 'bosun-stage';
  return `bosun-stage--${[...new Set(labels)].sort().join('_')}`;
}

export const AdvanceJob = z.strictObject({ buildId: z.string().regex(/^\d+$/) });
export type AdvanceJob = z.infer<typeof AdvanceJob>;

export const StageJob = z.strictObject({
  buildId: z.string().regex(/^\d+$/),
  stage: z.string().min(1),
  attempt: z.number().int().positive(),
});
export type StageJob = z.infer<typeof StageJob>;

/** BullMQ forbids ':' in custom ids; stage names are [a-z0-9_-]. */
export function stageJobId(job: StageJob): string {
  return `stage-${job.buildId}-${job.stage}-${job.attempt}`;
}

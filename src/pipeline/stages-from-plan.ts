import type { StageRun } from '../domain/build.js';
import type { ExecutionPlan } from '../domain/plan.js';

/** The build's stage records for a compiled plan, all pending. */
export function stagesFromPlan(plan: ExecutionPlan): StageRun[] {
  return plan.stages.map((s): StageRun => ({
    name: s.name,
    status: 'pending',
    needs: s.needs,
    labels: s.labels,
    resources: s.resources,
    ...(s.checkpoint ? { checkpoint: s.checkpoint } : {}),
    ...(s.services?.length ? { services: s.services } : {}),
    ...(s.publish?.length ? { publish: s.publish } : {}),
    ...(s.cache ? { cache: s.cache } : {}),
    ...(s.artifacts ? { artifacts: s.artifacts } : {}),
    ...(s.reports ? { reports: s.reports } : {}),
    ...(s.deploy ? { deploy: s.deploy } : {}),
    steps: s.steps.map((st) => ({ name: st.name, status: 'pending', image: st.image, plan: st, runs: 0 })),
  }));
}

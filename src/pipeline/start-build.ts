import type { Build } from '../domain/build.js';
import { stagesFromPlan } from './stages-from-plan.js';
import { scopedGrants, stepGrants } from './repo-secret-grants.js';
import type { ExecutionPlan } from '../domain/plan.js';
import { CodedError } from '../errors.js';
import { readSpecFile } from '../spec/find-spec.js';
import { parseSpec } from '../spec/parse-spec.js';
import { SpecInvalidError } from '../spec/spec-error.js';
import { compilePlan } from '../spec/compile-plan.js';
import type { PipelineDeps } from './pipeline-deps.js';
import { setBuildStatus, nowIso } from './transition.js';
import { ensureWorkspace } from './workspace.js';
import { PlanCache } from './plan-cache.js';

/**
 * Verb: start a queued build — check out its commit, read and validate `bosun.yml`, compile
 * the plan for this trigger and record its stages. A bad spec or a vanished ref fails the
 * build at once with the reason (`bosun.yml:14:9 path: message`); it is never retried.
 * Infrastructure errors propagate so the queue retries. Returns the build as it now is, or null
 * when it was not a queued build without a plan (nothing done).
 */
export async function startBuild(deps: PipelineDeps, build: Build): Promise<Build | null> {
  if (build.status !== 'queued' || build.stages.length > 0) return null;
  let plan: ExecutionPlan;
  try {
    plan = await loadPlan(deps, build);
  } catch (err) {
    if (!(err instanceof CodedError) || err.retryable) throw err;
    const { build: failed } = await deps.store.update(build.id, (b) => {
      if (b.status !== 'queued' || b.stages.length > 0) return null;
      const details = err instanceof SpecInvalidError && err.lines.length > 1 ? { details: err.lines } : {};
      return setBuildStatus(b, 'failed', nowIso(), { code: err.code, message: err.message, ...details });
    });
    deps.log.info({ buildId: build.id, code: err.code, reason: err.message }, 'Build failed before its first stage');
    return failed;
  }
  const { build: started } = await deps.store.update(build.id, (b) => {
    if (b.status !== 'queued' || b.stages.length > 0) return null;
    const now = nowIso();
    b.specPath = plan.specPath;
    if (plan.network) b.network = plan.network;
    b.stages = stagesFromPlan(plan);
    const events = setBuildStatus(b, 'running', now);
    if (b.stages.length === 0) {
      events.push(...setBuildStatus(b, 'skipped', now, { code: 'no_stages', message: describeSkipped(plan) }));
    }
    return events;
  });
  return started;
}

async function loadPlan(deps: PipelineDeps, build: Build): Promise<ExecutionPlan> {
  const dir = await ensureWorkspace(deps, build);
  const file = await readSpecFile(dir);
  const timeoutSec = deps.config.limits.stepTimeoutDefaultSec;
  // The repository's grants are part of what the plan was checked against (R8).
  const grants = deps.config.repos[build.repo]?.secrets;
  const granted = stepGrants(grants).sort();
  const scoped = Object.fromEntries(scopedGrants(grants));
  const key = PlanCache.key({
    text: file.text,
    path: file.path,
    event: build.trigger.event,
    branch: build.trigger.headBranch ?? build.ref,
    timeoutSec,
    granted: [...granted, ...Object.entries(scoped).map(([name, envs]) => `${name}@${envs.join(',')}`)],
    network: JSON.stringify(deps.config.network),
  });
  const cached = deps.plans.get(key);
  if (cached) return cached;
  const parsed = parseSpec(file.text, file.path, { secrets: { granted, scoped, repo: build.repo }, network: deps.config.network });
  if (!parsed.ok) throw new SpecInvalidError(parsed.errors);
  const plan = compilePlan(parsed.spec, { event: build.trigger.event, branch: build.trigger.headBranch ?? build.ref }, file.path, { timeoutSec });
  deps.plans.set(key, plan);
  return plan;
}

function describeSkipped(plan: ExecutionPlan): string {
  if (plan.skipped.length === 0) return 'bosun.yml declares no stages';
  return `no stage runs for this trigger: ${plan.skipped.map((s) => `${s.name} (${s.reason})`).join(', ')}`;
}

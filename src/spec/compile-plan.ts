/**
 * BuildSpec + trigger → ExecutionPlan: which stages run, in what order, with every default filled in.
 * Pure and deterministic (same input, same JSON), so plans can be compared with golden files.
 *
 * Which stages a trigger runs (`on:`):
 * - no `on:` → the stage runs for every trigger.
 * - `branches` → the branch being built must match one glob (see `matchBranch`). For a pull
 *   request that is the PR's head branch.
 * - `events` → the trigger's event must be listed, where:
 *   - `push` also covers `promotion`, because a promotion is the push of the production branch
 *     that Bosun makes after approval; list `promotion` alone to run only on promotions;
 *   - `manual` is a build someone asked for (`/ci build`, CLI, API), `pull_request` a PR
 *     opened or updated, `downstream` a build started because an upstream repository's
 *     master changed; each matches only itself.
 * A stage whose `needs` do not all run is skipped too, with the reason.
 */
import type {
  ExecutionPlan,
  NetworkRequest,
  PlanCheckpoint,
  PlanPublish,
  PlanSecret,
  PlanService,
  PlanServiceReady,
  PlanStage,
  PlanStep,
  TriggerContext,
  TriggerEvent,
} from '../domain/plan.js';
import type {
  BuildSpec,
  PublishTarget,
  ResourceRequest,
  SecretRequest,
  Service,
  ServiceReady,
  Stage,
  Step,
  TriggerFilter,
} from '../../spec-schema/build-spec.js';
import { parseDuration } from '../../spec-schema/duration.js';
import { matchBranch } from './match-branch.js';

const DEFAULT_STEP_TIMEOUT_SEC = 30 * 60;
const DEFAULT_CHECKPOINT_TIMEOUT_SEC = 24 * 3600;
const DEFAULT_SERVICE_READY_SEC = 60;
const DEFAULT_SERVICE_INTERVAL_SEC = 1;
const DEFAULT_SERVICE_RETRIES = 3;

export interface PlanDefaults {
  timeoutSec?: number;
}

export function compilePlan(spec: BuildSpec, ctx: TriggerContext, specPath: string, defaults: PlanDefaults = {}): ExecutionPlan {
  const skipped: ExecutionPlan['skipped'] = [];
  const selected = new Map<string, Stage>();
  for (const [name, stage] of Object.entries(spec.stages)) {
    const reason = filterMismatch(stage.on, ctx);
    if (reason) skipped.push({ name, reason });
    else selected.set(name, stage);
  }
  dropOrphans(selected, skipped);

  const stages = orderStages(selected).map((name) => compileStage(spec, name, selected.get(name) as Stage, defaults));
  return { specPath, stages, ...(spec.network ? { network: compileNetwork(spec.network) } : {}), skipped: sortByDeclaration(skipped, spec) };
}

/** The spec's `network:` as the plan keeps it (only the keys written). */
function compileNetwork(network: NonNullable<BuildSpec['network']>): NetworkRequest {
  return {
    ...(network.egress ? { egress: network.egress } : {}),
    ...(network.allow ? { allow: [...network.allow] } : {}),
    ...(network.deny ? { deny: [...network.deny] } : {}),
  };
}

/** Why `on:` excludes this trigger, or undefined when the stage runs. */
function filterMismatch(on: TriggerFilter | undefined, ctx: TriggerContext): string | undefined {
  if (on?.events && !on.events.some((e) => eventCovers(e, ctx.event))) {
    return `on.events [${on.events.join(', ')}] does not include ${ctx.event}`;
  }
  if (on?.branches && !on.branches.some((glob) => matchBranch(glob, ctx.branch))) {
    return `on.branches [${on.branches.join(', ')}] does not match ${ctx.branch}`;
  }
  return undefined;
}

function eventCovers(listed: TriggerEvent, actual: TriggerEvent): boolean {
  return listed === actual || (listed === 'push' && actual === 'promotion');
}

// Repeats until stable: dropping a stage can orphan the stages that need it.
function dropOrphans(selected: Map<string, Stage>, skipped: ExecutionPlan['skipped']): void {
  let changed = true;
  while (changed) {
    changed = false;
    for (const [name, stage] of selected) {
      const missing = (stage.needs ?? []).find((need) => !selected.has(need));
      if (missing === undefined) continue;
      selected.delete(name);
      skipped.push({ name, reason: `needs \`${missing}\`, which does not run for this trigger` });
      changed = true;
    }
  }
}

/** Declaration order, except that a stage comes after everything it needs. */
function orderStages(selected: Map<string, Stage>): string[] {
  const order: string[] = [];
  const placed = new Set<string>();
  while (order.length < selected.size) {
    const next = [...selected].find(([name, stage]) => !placed.has(name) && (stage.needs ?? []).every((n) => placed.has(n)));
    // The schema rejects cycles, so this only guards against an unvalidated spec.
    if (!next) throw new Error('stage needs form a cycle');
    order.push(next[0]);
    placed.add(next[0]);
  }
  return order;
}

function compileStage(spec: BuildSpec, name: string, stage: Stage, defaults: PlanDefaults): PlanStage {
  const out: PlanStage = {
    name,
    needs: [...(stage.needs ?? [])],
    steps: (stage.steps ?? []).map((step) => compileStep(spec, step, defaults, stage.secrets)),
    resources: (stage.resources ?? []).map(compileResource),
    labels: [...(stage.labels ?? [])],
  };
  if (stage.checkpoint) out.checkpoint = compileCheckpoint(stage.checkpoint);
  const services = Object.entries(stage.services ?? {});
  if (services.length > 0) out.services = services.map(([serviceName, s]) => compileService(serviceName, s));
  if (stage.publish?.length) out.publish = stage.publish.map(compilePublish);
  if (stage.cache)
    out.cache = { key: stage.cache.key, paths: stage.cache.paths.map((p) => p.replace(/\/$/, '')), restoreKeys: [...(stage.cache['restore-keys'] ?? [])] };
  if (stage.artifacts) out.artifacts = [...stage.artifacts];
  if (stage.reports) out.reports = [...stage.reports];
  if (stage.deploy) out.deploy = stage.deploy;
  return out;
}

function compilePublish(target: PublishTarget): PlanPublish {
  if ('docker' in target) {
    return {
      kind: 'docker',
      image: target.docker.image,
      context: normalizeWorkdir(target.docker.context),
      dockerfile: normalizeWorkdir(target.docker.dockerfile ?? 'Dockerfile'),
    };
  }
  return { kind: 'pypi', repository: target.pypi.repository, packageDir: normalizeWorkdir(target.pypi.package_dir) };
}

function compileStep(spec: BuildSpec, step: Step, defaults: PlanDefaults, stageSecrets: readonly SecretRequest[] = []): PlanStep {
  const timeoutSec = step.timeout === undefined ? undefined : parseDuration(step.timeout);
  const secrets = compileSecrets([...stageSecrets, ...(step.secrets ?? [])]);
  return {
    name: step.name,
    // The schema guarantees an image on the step or at the top level.
    image: step.image ?? spec.image ?? '',
    commands: typeof step.run === 'string' ? [step.run] : [...step.run],
    env: sortKeys({ ...spec.env, ...step.env }),
    timeoutSec: timeoutSec ?? defaults.timeoutSec ?? DEFAULT_STEP_TIMEOUT_SEC,
    workdir: normalizeWorkdir(step.workdir),
    ...(secrets.length ? { secrets } : {}),
    ...(step.idempotent ? { idempotent: true } : {}),
    ...(step.fresh ? { fresh: true } : {}),
    ...(step.artifacts ? { artifacts: [...step.artifacts] } : {}),
    ...(step.reports ? { reports: [...step.reports] } : {}),
  };
}

/** The stage's and the step's requests as one entry per secret name (in order of first mention), variables sorted. */
function compileSecrets(requests: readonly SecretRequest[]): PlanSecret[] {
  const byName = new Map<string, Set<string>>();
  for (const request of requests) {
    const name = typeof request === 'string' ? request : request.name;
    const env = byName.get(name) ?? new Set<string>();
    if (typeof request !== 'string' && request.env) env.add(request.env);
    byName.set(name, env);
  }
  return [...byName].map(([name, env]) => ({ name, env: [...env].sort() }));
}

function compileService(name: string, s: Service): PlanService {
  const out: PlanService = { name, image: s.image, env: sortKeys(s.env ?? {}), ready: compileReady(s.ready), limits: {} };
  if (s.command) out.command = [...s.command];
  if (s.limits?.cpus !== undefined) out.limits.cpus = s.limits.cpus;
  if (s.limits?.memory !== undefined) out.limits.memoryMb = Number(s.limits.memory.slice(0, -1)) * (s.limits.memory.endsWith('G') ? 1024 : 1);
  return out;
}

function compileReady(ready: ServiceReady | undefined): PlanServiceReady {
  const timing = {
    intervalSec: (ready?.interval === undefined ? undefined : parseDuration(ready.interval)) ?? DEFAULT_SERVICE_INTERVAL_SEC,
    timeoutSec: (ready?.timeout === undefined ? undefined : parseDuration(ready.timeout)) ?? DEFAULT_SERVICE_READY_SEC,
    retries: ready?.retries ?? DEFAULT_SERVICE_RETRIES,
  };
  if (ready?.run !== undefined) return { kind: 'run', commands: typeof ready.run === 'string' ? [ready.run] : [...ready.run], ...timing };
  if (ready?.tcp !== undefined) return { kind: 'tcp', port: ready.tcp, ...timing };
  return { kind: 'image', ...timing };
}

function compileCheckpoint(cp: NonNullable<Stage['checkpoint']>): PlanCheckpoint {
  const out: PlanCheckpoint = {
    instructions: cp.instructions,
    checklist: [...(cp.checklist ?? [])],
    timeoutSec: (cp.timeout === undefined ? undefined : parseDuration(cp.timeout)) ?? DEFAULT_CHECKPOINT_TIMEOUT_SEC,
    approvers: cp.approvers,
  };
  if (cp.kind === 'approval') out.kind = 'approval';
  if (cp.resource) out.resource = compileResource(cp.resource);
  return out;
}

function compileResource(r: ResourceRequest): { pool: string; attributes: string[] } {
  return { pool: r.pool, attributes: [...(r.attributes ?? [])] };
}

/** `sub//dir/./x/` → `sub/dir/x`; nothing → `.` (the schema already refused `..` and `/`). */
function normalizeWorkdir(dir: string | undefined): string {
  const parts = (dir ?? '').split('/').filter((p) => p !== '' && p !== '.');
  return parts.length ? parts.join('/') : '.';
}

function sortKeys(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function sortByDeclaration(skipped: ExecutionPlan['skipped'], spec: BuildSpec): ExecutionPlan['skipped'] {
  const index = Object.keys(spec.stages);
  return [...skipped].sort((a, b) => index.indexOf(a.name) - index.indexOf(b.name));
}

import type { Build, Trigger } from '../domain/build.js';
import type { ExecutionPlan } from '../domain/plan.js';
import { stagesFromPlan } from './stages-from-plan.js';
import { validateRefName, validateRepoName } from '../domain/ref-name.js';
import { UserError } from '../errors.js';
import { resolveRef } from '../git/git.js';
import type { PipelineDeps } from './pipeline-deps.js';
import { nowIso } from './transition.js';

export interface CreateBuildInput {
  repo: string;
  ref: string;
  /** Exact commit; resolved from `ref` when absent. */
  sha?: string;
  trigger: Trigger;
  retryOf?: string;
  /** A plan made by Bosun itself (e.g. a promotion: one stage holding only a checkpoint); skips bosun.yml. */
  plan?: ExecutionPlan;
}

export interface CreateBuildResult {
  /** The new build, or the one an earlier identical delivery created (may be null while it is being made). */
  build: Build | null;
  created: boolean;
}

/**
 * Verb: create a build and queue it. Checks the repository allowlist and the ref's shape
 * before anything touches git (R11, R27); one build per delivery id (R2).
 */
export async function createBuild(deps: PipelineDeps, input: CreateBuildInput): Promise<CreateBuildResult> {
  const { config, store, audit } = deps;
  const repo = validateRepoName(input.repo);
  const repoConfig = config.repos[repo];
  if (!repoConfig) {
    await audit.record({
      action: 'build.create',
      actorId: input.trigger.actor.id,
      source: input.trigger.source,
      outcome: 'denied',
      detail: `unknown repo ${repo}`,
    });
    const known = Object.keys(config.repos).sort().join(', ');
    throw new UserError('unknown_repo', `repository "${repo}" is not configured in Bosun (known: ${known || 'none'})`);
  }
  const ref = validateRefName(input.ref);

  const dedupeKey = input.trigger.deliveryId ? `delivery:${input.trigger.deliveryId}` : null;
  if (dedupeKey && !(await store.claimOnce(dedupeKey))) {
    const existing = await store.dedupeValue(dedupeKey);
    return { build: existing && existing !== '1' ? await store.get(existing) : null, created: false };
  }

  const sha = input.sha ?? (await resolveRef(repoConfig.url, ref));
  const id = await store.nextId();
  const now = nowIso();
  const build: Build = {
    id,
    repo,
    ref,
    sha,
    trigger: input.trigger,
    status: 'queued',
    stages: input.plan ? stagesFromPlan(input.plan) : [],
    ...(input.plan ? { specPath: input.plan.specPath } : {}),
    createdAt: now,
    attempt: 1,
    version: 0,
    ...(input.retryOf ? { retryOf: input.retryOf } : {}),
  };
  await store.create(build, [
    { type: 'build.created', buildId: id, repo, ref, sha, actor: input.trigger.actor, source: input.trigger.source },
    { type: 'build.status', buildId: id, status: 'queued', previous: 'pending' },
  ]);
  if (dedupeKey) await store.setDedupeValue(dedupeKey, id);
  await audit.record({
    action: 'build.create',
    actorId: input.trigger.actor.id,
    source: input.trigger.source,
    outcome: 'ok',
    buildId: id,
    sha,
    ...(input.trigger.deliveryId ? { eventId: input.trigger.deliveryId } : {}),
  });
  deps.log.info({ buildId: id, repo, ref, sha }, 'Build created');
  await deps.queue.advance(id);
  return { build, created: true };
}

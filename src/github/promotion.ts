import type { CommandContext } from '../../commands/command.js';
import type { Core } from '../app/open-core.js';
import type { Build } from '../domain/build.js';
import { shortSha } from '../domain/build.js';
import type { StoredEvent } from '../domain/build-event.js';
import type { ExecutionPlan } from '../domain/plan.js';
import type { EventHandler } from '../events/event-bus.js';
import { UserError } from '../errors.js';
import { createBuild } from '../pipeline/create-build.js';
import type { GithubConfig } from './github-config.js';
import { repoId, type GithubClient } from './github-client.js';
import { latestDownstreamBuild, downstreamContext } from './downstream.js';

export type PromotionClient = Pick<GithubClient, 'getRef' | 'fastForwardRef' | 'createRef'>;

export interface PromotionDeps {
  core: Pick<Core, 'store' | 'deps' | 'config' | 'audit' | 'log'>;
  github: GithubConfig;
  client: PromotionClient;
}

const promotionStage = 'promote';

/**
 * `/ci promote owner/repo`: picks the newest master build that is fully green (e2e included)
 * and whose downstream builds are green, and starts a promotion build bound to that commit:
 * one synthetic stage holding only a checkpoint for the production approvers. The requester
 * can never pass it (decideCheckpoint refuses self-approval). Once it succeeds the watcher
 * fast-forwards production.
 */
export async function requestPromotion(deps: PromotionDeps, repo: string, ctx: CommandContext): Promise<{ text: string; build?: Build }> {
  const cfg = deps.core.config.repos[repo];
  if (!cfg) throw new UserError('unknown_repo', `repository "${repo}" is not configured in Bosun`);
  const builds = await deps.core.store.list({ repo, limit: 200 });
  const required = promotionRequires(deps.core.config, deps.github, repo);
  const candidate = builds.find((b) => b.ref === cfg.defaultBranch && b.trigger.event === 'push' && isFullyGreen(b, required));
  if (!candidate)
    return {
      text: `Nothing to promote: no fully green ${cfg.defaultBranch} build of ${repo} (every stage green${required.length ? `, ${required.join(', ')} included` : ''}).`,
    };
  for (const target of deps.github.downstream[repo] ?? []) {
    const down = await latestDownstreamBuild(deps.core, target, { repo, sha: candidate.sha });
    if (down?.status !== 'success') {
      return { text: `Cannot promote ${repo}@${shortSha(candidate.sha)} yet: ${downstreamContext(target)} is ${down?.status ?? 'not reported'}.` };
    }
  }
  const production = await deps.client.getRef(repoId(repo), `heads/${deps.github.productionBranch}`);
  if (production === candidate.sha) return { text: `${repo}@${shortSha(candidate.sha)} is already in ${deps.github.productionBranch}.` };
  const open = builds.find(
    (b) => b.trigger.event === 'promotion' && b.sha === candidate.sha && (b.status === 'waiting' || b.status === 'running' || b.status === 'queued'),
  );
  if (open) return { text: `Promotion of ${repo}@${shortSha(candidate.sha)} is already waiting: build #${open.id}.`, build: open };

  const { build } = await createBuild(deps.core.deps, {
    repo,
    ref: cfg.defaultBranch,
    sha: candidate.sha,
    trigger: {
      event: 'promotion',
      source: ctx.source,
      actor: ctx.actor,
      ...(ctx.eventId ? { deliveryId: `${ctx.source}:${ctx.eventId}:promote` } : {}),
      ...(ctx.chat ? { chat: ctx.chat } : {}),
    },
    plan: promotionPlan(repo, candidate.sha, deps.github),
  });
  if (!build) return { text: 'This promotion request was already handled.' };
  return {
    text: `Promotion of ${repo}@${shortSha(candidate.sha)} to ${deps.github.productionBranch} is build #${build.id}; it needs approval from "${deps.github.productionApprovers}" (not ${ctx.actor.name}): \`/ci approve ${build.id}\`.`,
    build,
  };
}

function isFullyGreen(b: Build, required: readonly string[]): boolean {
  return b.status === 'success' && required.every((r) => b.stages.some((s) => s.name === r)) && b.stages.every((s) => s.status === 'success');
}

/**
 * The stages a promotion needs green: the `requires` of the repository's production
 * environment (the one whose `autoDeploy.branch` is the production branch), or `e2e` when the
 * server config declares no such environment.
 */
export function promotionRequires(config: Pick<Core['config'], 'environments'>, github: Pick<GithubConfig, 'productionBranch'>, repo: string): string[] {
  const production = Object.values(config.environments ?? {}).find((e) => e.repo === repo && e.autoDeploy?.branch === github.productionBranch);
  return production ? production.requires : ['e2e'];
}

function promotionPlan(repo: string, sha: string, github: GithubConfig): ExecutionPlan {
  return {
    specPath: '(promotion)',
    skipped: [],
    stages: [
      {
        name: promotionStage,
        needs: [],
        steps: [],
        resources: [],
        labels: [],
        checkpoint: {
          instructions: `Promote ${repo}@${shortSha(sha)} to ${github.productionBranch}.`,
          checklist: [],
          timeoutSec: github.promotionTimeoutSec,
          approvers: github.productionApprovers,
          kind: 'approval',
        },
      },
    ],
  };
}

/** Fast-forwards production when a promotion build succeeds (never forces). Idempotent. */
export function makePromotionWatcher(deps: PromotionDeps): EventHandler {
  return {
    name: 'github-promotion',
    async handle(event: StoredEvent) {
      if (event.type !== 'build.status' || event.status !== 'success') return;
      const build = await deps.core.store.get(event.buildId);
      if (!build || build.trigger.event !== 'promotion') return;
      const approval = build.stages.find((s) => s.name === promotionStage)?.checkpointState;
      if (approval?.decision?.decision !== 'pass' || approval.sha !== build.sha) return;
      const r = repoId(build.repo);
      const ref = `heads/${deps.github.productionBranch}`;
      const current = await deps.client.getRef(r, ref);
      let outcome: 'ok' | 'denied' = 'ok';
      if (current === build.sha) return;
      if (current === null) await deps.client.createRef(r, ref, build.sha);
      else if (!(await deps.client.fastForwardRef(r, ref, build.sha))) outcome = 'denied';
      await deps.core.audit.record({
        action: 'deploy.promote',
        actorId: approval.decision.actor.id,
        source: 'github',
        outcome,
        buildId: build.id,
        sha: build.sha,
        detail: outcome === 'ok' ? `${deps.github.productionBranch} → ${build.sha}` : `${deps.github.productionBranch} is not an ancestor of ${build.sha}`,
      });
      deps.core.log.info({ buildId: build.id, sha: build.sha, outcome }, 'Promotion ref update');
    },
  };
}

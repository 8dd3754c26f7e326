import type { Core } from '../app/open-core.js';
import type { Build } from '../domain/build.js';
import { createBuild } from '../pipeline/create-build.js';
import type { GithubConfig } from './github-config.js';

export function downstreamContext(repo: string): string {
  return `downstream/${repo}`;
}

/**
 * A new master commit of `repo`: every subscribed downstream repository runs its own
 * default branch against that commit (`BOSUN_UPSTREAM_REPO` / `BOSUN_UPSTREAM_SHA` in step
 * env). One build per (delivery, downstream repo).
 */
export async function startDownstream(core: Core, github: GithubConfig, upstream: { repo: string; sha: string; deliveryId: string }): Promise<void> {
  for (const target of github.downstream[upstream.repo] ?? []) {
    const cfg = core.config.repos[target];
    if (!cfg) {
      core.log.warn({ upstream: upstream.repo, target }, 'Downstream repository is not configured; skipped');
      continue;
    }
    await createBuild(core.deps, {
      repo: target,
      ref: cfg.defaultBranch,
      trigger: {
        event: 'downstream',
        source: 'github',
        actor: { id: 'bosun:downstream', name: 'Bosun' },
        deliveryId: `github:${upstream.deliveryId}:downstream:${target}`,
        upstream: { repo: upstream.repo, sha: upstream.sha },
      },
    });
  }
}

/** The latest downstream build of `target` for `upstream@sha`, from our own records. */
export async function latestDownstreamBuild(core: Pick<Core, 'store'>, target: string, upstream: { repo: string; sha: string }): Promise<Build | undefined> {
  const builds = await core.store.list({ repo: target, limit: 200 });
  return builds.find((b) => b.trigger.upstream?.repo === upstream.repo && b.trigger.upstream.sha === upstream.sha);
}

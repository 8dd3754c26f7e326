import type { Core } from '../app/open-core.js';
import type { Build } from '../domain/build.js';
import { DeployStore } from '../deploys/deploy-store.js';
import { gitAuthEnv } from '../git/git-auth.js';
import { commitRange } from '../git/commit-range.js';
import { resolveRef } from '../git/git.js';
import { UserError } from '../errors.js';
import { approvalFacts, type ApprovalFacts } from './approval-facts.js';

/**
 * This server's approval-card facts (`approvalFacts` over the real stores, the mirrors and, for
 * promotions, the production branch), the same for Slack, Zulip and the web console.
 */
export function approvalFactsFor(core: Pick<Core, 'config' | 'store' | 'redis' | 'prefix' | 'deps'>): (build: Build, stage: string) => Promise<ApprovalFacts> {
  const deploys = Object.keys(core.config.environments).length ? new DeployStore(core.redis, core.prefix) : undefined;
  const github = core.config.github;
  return (build, stage) =>
    approvalFacts(build, stage, {
      builds: core.store,
      ...(deploys ? { deploys } : {}),
      hasApprovers: (env) => !!core.config.environments[env]?.approvers,
      range: (repo, base, head) => commitRange(core.config, core.deps.mirrors, repo, base, head),
      ...(github
        ? {
            promotion: {
              environment: (repo: string) =>
                Object.entries(core.config.environments).find(([, e]) => e.repo === repo && e.autoDeploy?.branch === github.productionBranch)?.[0] ??
                github.productionBranch,
              productionSha: async (repo: string) => {
                const url = core.config.repos[repo]?.url;
                if (!url) return null;
                return resolveRef(url, github.productionBranch, gitAuthEnv(core.config, repo)).catch((err: unknown) => {
                  if (err instanceof UserError) return null; // no such branch yet
                  throw err;
                });
              },
            },
          }
        : {}),
    });
}

import type { Build } from '../domain/build.js';
import type { Logger } from '../logger.js';
import type { DeployManager } from './deploy-manager.js';
import { pickImage } from './deploy-manager.js';
import type { Environments } from './environment-config.js';

/**
 * After a promotion was approved (its build succeeded), deploys to the repository's
 * production environment (the one whose `autoDeploy.branch` is the production branch) the
 * image that the promoted commit's own push build published: production runs exactly the
 * digest that was tested and approved, not a rebuild. The promotion's approvals stand for the
 * environment's approval when they come from the same group (see `DeployRequest.approvedBy`).
 */
export async function deployPromotion(
  deps: {
    manager: DeployManager;
    builds: { list(o: { repo: string; limit: number }): Promise<Build[]> };
    environments: Environments;
    productionBranch: string;
    log: Logger;
  },
  build: Build,
): Promise<string[]> {
  if (build.trigger.event !== 'promotion' || build.status !== 'success') return [];
  const stage = build.stages[0];
  const cp = stage?.checkpointState;
  if (!stage?.checkpoint || cp?.decision?.decision !== 'pass' || cp.sha !== build.sha) return [];
  const started: string[] = [];
  for (const [name, env] of Object.entries(deps.environments)) {
    if (env.repo !== build.repo || env.autoDeploy?.branch !== deps.productionBranch) continue;
    const candidate = (await deps.builds.list({ repo: build.repo, limit: 200 })).find(
      (b) => b.sha === build.sha && b.trigger.event === 'push' && b.status === 'success' && pickImage(b, env),
    );
    if (!candidate) {
      deps.log.info({ buildId: build.id, environment: name }, 'Promotion: the promoted commit published no image; nothing to deploy');
      continue;
    }
    const r = await deps.manager.request({
      repo: build.repo,
      selector: candidate.id,
      environment: name,
      kind: 'deploy',
      actor: build.trigger.actor,
      source: 'promotion',
      approvedBy: { group: stage.checkpoint.approvers, approvals: cp.approvals.map((a) => ({ actor: a.actor, at: a.at })) },
      ...(build.trigger.chat ? { chat: build.trigger.chat } : {}),
    });
    started.push(r.deploy.id);
  }
  return started;
}

import type { Deploy } from '../domain/deploy.js';
import type { GithubClient } from '../github/github-client.js';
import { repoId } from '../github/github-client.js';
import type { DeploymentReporter } from './deploy-manager.js';

/**
 * GitHub Deployments for deploys of GitHub repositories (`owner/name` keys): one deployment
 * per Bosun deploy (ref = the commit, environment = the environment's name, payload = the
 * digest reference), and a status for each state, so GitHub's environment view agrees with
 * Bosun's history.
 */
export function githubDeployments(
  client: Pick<GithubClient, 'createDeployment' | 'createDeploymentStatus'>,
  opts: { isGithubRepo: (repo: string) => boolean; production: (environment: string) => boolean },
): DeploymentReporter {
  return {
    async created(d: Deploy) {
      if (!opts.isGithubRepo(d.repo)) return null;
      return client.createDeployment(repoId(d.repo), {
        sha: d.sha,
        environment: d.environment,
        production: opts.production(d.environment),
        description: `Bosun deploy #${d.id} (${d.kind}) of build #${d.buildId}`,
        payload: { image: d.image, digest: d.digest, ref: d.ref, bosunDeploy: d.id },
      });
    },
    async status(d: Deploy, state, description) {
      if (d.githubDeploymentId === undefined) return;
      await client.createDeploymentStatus(repoId(d.repo), d.githubDeploymentId, { state, description });
    },
  };
}

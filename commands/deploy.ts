import { validateRepoName } from '../src/domain/ref-name.js';
import type { Command } from './command.js';
import { UsageError } from './usage-error.js';
import { hasDeploys, requireDeploys } from './deploy-service.js';

/**
 * `deploy <repo>[@<build|sha|digest>] to <env>`: the image that build published, by digest.
 * Without `@…`, the newest successful build of the repository that published an image.
 */
export const deploy: Command = {
  name: 'deploy',
  available: hasDeploys,
  help: {
    usage: 'deploy <owner/repo>[@<build|commit|sha256:digest>] to <environment>',
    description:
      'Deploy the image a build of the repository published (by digest, never a tag) to an environment. One deploy per environment at a time; a newer queued deploy replaces an older one. Environments with approvers wait for their approval.',
    whoCanUse: 'Anyone may ask; where the environment has approvers, members of that group approve (never the requester).',
    examples: ['deploy acme/api to staging', 'deploy acme/api@42 to production', 'deploy acme/api@3f2a9c1 to staging'],
  },
  async run(ctx, args) {
    const service = requireDeploys(ctx);
    if (args.length !== 3 || args[1]?.toLowerCase() !== 'to') throw new UsageError();
    const [target = '', , environment = ''] = args;
    const at = target.indexOf('@');
    const repo = validateRepoName(at >= 0 ? target.slice(0, at) : target);
    const selector = at >= 0 ? target.slice(at + 1) : undefined;
    if (selector === '') throw new UsageError('Name a build, a commit or a digest after @, or leave @ out.');
    const { text } = await service.deploy({ repo, environment: environment.toLowerCase(), ...(selector ? { selector } : {}) }, ctx);
    return { text, kind: 'ok' };
  },
};

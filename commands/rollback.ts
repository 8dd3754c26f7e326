import { validateRepoName } from '../src/domain/ref-name.js';
import type { Command } from './command.js';
import { UsageError } from './usage-error.js';
import { hasDeploys, requireDeploys } from './deploy-service.js';

export const rollback: Command = {
  name: 'rollback',
  available: hasDeploys,
  help: {
    usage: 'rollback <owner/repo> <environment>',
    description:
      'Deploy again the previous image that ran successfully in the environment (the last good digest before the current one), with the same approvals as any deploy there.',
    whoCanUse: 'Anyone may ask; where the environment has approvers, members of that group approve (never the requester).',
    examples: ['rollback acme/api production'],
  },
  async run(ctx, args) {
    const service = requireDeploys(ctx);
    if (args.length !== 2) throw new UsageError();
    const { text } = await service.rollback({ repo: validateRepoName(args[0] ?? ''), environment: (args[1] ?? '').toLowerCase() }, ctx);
    return { text, kind: 'ok' };
  },
};

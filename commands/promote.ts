import { validateRepoName } from '../src/domain/ref-name.js';
import type { Command } from './command.js';
import { UsageError } from './usage-error.js';
import { hasGithub, requireGithub } from './merge.js';

export const promote: Command = {
  name: 'promote',
  help: {
    usage: 'promote <owner/repo>',
    description:
      'Ask to promote the newest fully green master commit (e2e on staging and downstream checks included) to production. The production approvers must approve it; the requester cannot.',
    whoCanUse: 'Anyone may ask; only members of the production approver group in the server config can approve, never the requester.',
    examples: ['promote acme/api'],
  },
  available: hasGithub,
  async run(ctx, args) {
    const word = args[0] ?? ctx.pullRequest?.repo;
    if (!word || args.length > 1) throw new UsageError();
    const { text, build } = await requireGithub(ctx).promote(validateRepoName(word), ctx);
    return { text, kind: build ? 'ok' : 'error', ...(build ? { build } : {}) };
  },
};

import type { Command } from './command.js';
import { UsageError } from './usage-error.js';
import { hasGithub, parsePullTarget, requireGithub } from './merge.js';

export const okToTest: Command = {
  name: 'ok-to-test',
  help: {
    usage: 'ok-to-test [<owner/repo>#<pull request>]',
    description: 'Let a pull request from a fork or an outside contributor run its tests, without secrets, for its current head commit only.',
    whoCanUse: 'Owners, members and collaborators of the repository, and the trusted users in the server config.',
    examples: ['ok-to-test', 'ok-to-test acme/api#7'],
  },
  available: hasGithub,
  async run(ctx, args) {
    const target = parsePullTarget(args[0]) ?? (args.length === 0 ? ctx.pullRequest : undefined);
    if (!target || args.length > 1) throw new UsageError();
    return { text: await requireGithub(ctx).okToTest(target, ctx), kind: 'ok' };
  },
};

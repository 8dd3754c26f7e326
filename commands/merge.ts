import { UserError } from '../src/errors.js';
import type { Command, CommandContext, GithubCommands } from './command.js';
import { UsageError } from './usage-error.js';

/** The GitHub service, or a clear refusal when this server has no GitHub configured. */
export function requireGithub(ctx: CommandContext): GithubCommands {
  if (!ctx.github) throw new UserError('bad_request', 'GitHub is not configured on this server');
  return ctx.github;
}

/**
 * True when the context reaches GitHub: every front end's contexts do once this server's GitHub
 * front end has started (`commandServices`); help leaves the GitHub commands out otherwise.
 */
export function hasGithub(ctx: CommandContext): boolean {
  return ctx.github !== undefined;
}

/** `owner/repo#123` → the pull request it names. */
export function parsePullTarget(word: string | undefined): { repo: string; number: number } | null {
  const m = word ? /^([A-Za-z0-9_.-]{1,100}\/[A-Za-z0-9_.-]{1,100})#(\d{1,9})$/.exec(word) : null;
  return m?.[1] && m[2] ? { repo: m[1], number: Number(m[2]) } : null;
}

export const merge: Command = {
  name: 'merge',
  help: {
    usage: 'merge <owner/repo>#<pull request>',
    description:
      "Fast-forward the default branch to a pull request's head: only when it has the branch as an ancestor, its required checks are green and its reviews are approved. Otherwise says why.",
    whoCanUse: 'Anyone who can talk to Bosun; on GitHub, owners, members and collaborators of the repository.',
    examples: ['merge acme/api#123'],
  },
  available: hasGithub,
  async run(ctx, args) {
    const target = parsePullTarget(args[0]) ?? (args.length === 0 && ctx.pullRequest ? ctx.pullRequest : null);
    if (!target || args.length > 1) throw new UsageError();
    const text = await requireGithub(ctx).merge(target, ctx);
    return { text, kind: text.startsWith('Cannot') ? 'error' : 'ok' };
  },
};

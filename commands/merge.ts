import { UserError } from '../src/errors.js';
import type { Command, CommandContext, GithubCommands } from './command.js';
import { UsageError } from './usage-error.js';

let provided: GithubCommands | undefined;

/**
 * Set by the GitHub front end when it starts, so chat, the CLI and the API reach the same
 * service as PR comments do (their contexts carry no `github`). One server per process.
 */
export function provideGithubCommands(service: GithubCommands | undefined): void {
  provided = service;
}

/** The GitHub service, or a clear refusal when this server has no GitHub configured. */
export function requireGithub(ctx: CommandContext): GithubCommands {
  const service = ctx.github ?? provided;
  if (!service) throw new UserError('bad_request', 'GitHub is not configured on this server');
  return service;
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
    description: 'Fast-forward the default branch to a pull request\'s head: only when it has the branch as an ancestor, its required checks are green and its reviews are approved. Otherwise says why.',
    whoCanUse: 'Anyone who can talk to Bosun; on GitHub, owners, members and collaborators of the repository.',
    examples: ['merge acme/api#123'],
  },
  async run(ctx, args) {
    const target = parsePullTarget(args[0]) ?? (args.length === 0 && ctx.pullRequest ? ctx.pullRequest : null);
    if (!target || args.length > 1) throw new UsageError();
    const text = await requireGithub(ctx).merge(target, ctx);
    return { text, kind: text.startsWith('Cannot') ? 'error' : 'ok' };
  },
};

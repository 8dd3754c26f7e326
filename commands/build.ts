import { parseTarget, quoteUntrusted } from '../src/domain/ref-name.js';
import type { Command } from './command.js';
import { UsageError } from './usage-error.js';
import { buildLine } from './describe-build.js';

export const build: Command = {
  name: 'build',
  help: {
    usage: 'build <repo>[#<branch|tag|sha>]',
    description: 'Start a build of a repository at a branch, tag or commit (default: its default branch).',
    whoCanUse: 'Anyone who can talk to Bosun; repositories must be configured on the server. Limited to a few builds per minute per person.',
    examples: ['build demo#master', 'build acme/api#feature-x', 'build demo'],
  },
  async run(ctx, args) {
    if (args.length === 0 || !args[0]) throw new UsageError();
    // `build demo#my branch`: the words after the first belong to the ref, which cannot have a space.
    if (args.length > 1) throw new UsageError(spacedTarget(args));
    const target = parseTarget(args[0]);
    const b = await ctx.builds.create({ repo: target.repo, ref: target.ref }, ctx);
    const url = ctx.builds.buildUrl(b.id);
    return { text: `Queued ${buildLine(b)}${url ? ` — ${url}` : ''}`, build: b, kind: 'ok' };
  },
};

/** Says what is wrong with a target typed as several words, rather than only the usage. */
function spacedTarget(args: string[]): string {
  const typed = quoteUntrusted(args.join(' '));
  if (args[0]!.includes('#')) {
    return `${typed} has a space in its ref: branch and tag names cannot contain spaces (git refuses them).`;
  }
  return `build takes one target, <repo>[#<ref>], and got ${args.length} words: ${typed}. To build a branch, join them with #: build ${quoteUntrusted(args[0]!).slice(1, -1)}#<branch>`;
}

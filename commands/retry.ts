import type { Command } from './command.js';
import { UsageError } from './usage-error.js';
import { parseBuildId } from './parse-command.js';
import { buildLine } from './describe-build.js';

export const retry: Command = {
  name: 'retry',
  aliases: ['rebuild'],
  help: {
    usage: 'retry <build> [--failed]',
    description:
      'Run a finished build again: as a new build of the same commit, or with --failed the same build from its failed step (steps that passed are kept).',
    whoCanUse: 'Anyone.',
    examples: ['retry #42', 'retry 42 --failed'],
  },
  async run(ctx, args) {
    const id = parseBuildId(args[0]);
    if (!id || args.slice(1).some((a) => a !== '--failed')) throw new UsageError();
    const fromFailed = args.includes('--failed');
    const b = await ctx.builds.retry(id, fromFailed, ctx);
    return { text: `${fromFailed ? 'Retrying from the failed step' : 'Rebuilding as'} ${buildLine(b)}`, build: b, kind: 'ok' };
  },
};

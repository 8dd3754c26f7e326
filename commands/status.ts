import type { Command } from './command.js';
import { parseBuildId } from './parse-command.js';
import { buildLine, describeBuild } from './describe-build.js';
import { validateRepoName } from '../src/domain/ref-name.js';

export const status: Command = {
  name: 'status',
  aliases: ['show'],
  help: {
    usage: 'status [<build> | <repo>]',
    description: 'Show one build with its stages and steps, or the latest builds (of a repository).',
    whoCanUse: 'Anyone.',
    examples: ['status', 'status #42', 'status demo'],
  },
  async run(ctx, args) {
    const id = parseBuildId(args[0]);
    if (id) {
      const b = await ctx.builds.get(id);
      if (!b) return { text: `No build #${id}.`, kind: 'error', ephemeral: true };
      return { text: describeBuild(b), build: b };
    }
    const repo = args[0] ? validateRepoName(args[0]) : undefined;
    const builds = await ctx.builds.list({ ...(repo ? { repo } : {}), limit: 10 });
    if (builds.length === 0) return { text: repo ? `No builds of ${repo} yet.` : 'No builds yet.' };
    return { text: builds.map(buildLine).join('\n') };
  },
};

import type { Command } from './command.js';
import { UsageError } from './usage-error.js';
import { parseBuildId } from './parse-command.js';

export const logs: Command = {
  name: 'logs',
  aliases: ['log'],
  help: {
    usage: 'logs <build> [<stage>[/<step>]] [--lines N]',
    description: "Show the last lines of a step's log (by default the failing or latest step), with a link to the full log.",
    whoCanUse: 'Anyone.',
    examples: ['logs #42', 'logs 42 test/unit', 'logs 42 e2e --lines 100'],
  },
  async run(ctx, args) {
    const id = parseBuildId(args[0]);
    if (!id) throw new UsageError();
    let lines = 30;
    let target: { stage?: string; step?: string } = {};
    for (let i = 1; i < args.length; i++) {
      const word = args[i]!;
      if (word === '--lines' || word === '-n') {
        lines = Math.min(Math.max(Number(args[++i]) || 30, 1), 1000);
      } else {
        const [stage, step] = word.split('/');
        target = { ...(stage ? { stage } : {}), ...(step ? { step } : {}) };
      }
    }
    const tail = await ctx.builds.logTail(id, target, lines);
    if (!tail) return { text: `No log for build #${id}${target.stage ? ` ${target.stage}` : ''} yet.`, kind: 'error', ephemeral: true };
    const url = ctx.builds.buildUrl(id);
    return {
      text: `Build #${id} ${tail.stage}/${tail.step}, last ${tail.lines.length} lines${url ? ` — full log: ${url}` : ''}`,
      code: tail.lines.map((l) => l.text),
    };
  },
};

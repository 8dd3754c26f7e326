import type { Command } from './command.js';
import { UsageError } from './usage-error.js';
import { parseBuildId } from './parse-command.js';
import { buildLine } from './describe-build.js';

function decideCommand(decision: 'pass' | 'fail', name: string, aliases: string[], description: string): Command {
  return {
    name,
    aliases,
    help: {
      usage: `${name} <build> [<stage>]`,
      description,
      whoCanUse: "Members of the checkpoint's approver group in the server config; never the person who started the build.",
      examples: [`${name} #42`, `${name} 42 e2e`],
    },
    async run(ctx, args) {
      const id = parseBuildId(args[0]);
      if (!id || args.length > 2) throw new UsageError();
      const { build, outcome } = await ctx.builds.decide(id, args[1], decision, ctx);
      const stage = build.stages.find((s) => s.checkpointState && (args[1] ? s.name === args[1] : true));
      const state = stage?.checkpointState;
      if (outcome === 'recorded') {
        const left = state ? state.required - state.approvals.length : 0;
        return { text: `Approval recorded for ${buildLine(build)}; ${left} more needed.`, build, kind: 'ok' };
      }
      return {
        text: `${outcome === 'passed' ? 'Passed' : 'Failed'} the checkpoint of ${stage?.name ?? 'the stage'} in ${buildLine(build)} (by ${ctx.actor.name}).`,
        build,
        kind: 'ok',
      };
    },
  };
}

export const pass = decideCommand('pass', 'pass', ['approve'], 'Pass a waiting checkpoint (manual test or promotion approval); the pipeline continues.');
export const fail = decideCommand('fail', 'fail', ['reject'], 'Fail a waiting checkpoint; the stage and build fail.');

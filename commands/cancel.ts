import type { Command } from './command.js';
import { UsageError } from './usage-error.js';
import { parseBuildId } from './parse-command.js';
import { buildLine } from './describe-build.js';

export const cancel: Command = {
  name: 'cancel',
  aliases: ['stop'],
  help: {
    usage: 'cancel <build>',
    description: 'Cancel a queued or running build; running steps get SIGTERM, then SIGKILL after a grace period.',
    whoCanUse: 'Anyone.',
    examples: ['cancel #42'],
  },
  async run(ctx, args) {
    const id = parseBuildId(args[0]);
    if (!id) throw new UsageError();
    const b = await ctx.builds.cancel(id, ctx);
    return { text: `Cancelled ${buildLine(b)}`, build: b, kind: 'ok' };
  },
};

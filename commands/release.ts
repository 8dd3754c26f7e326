import type { Command } from './command.js';
import { UsageError } from './usage-error.js';
import { requireLeases, hasLeases } from './lease-service.js';

export const release: Command = {
  name: 'release',
  available: hasLeases,
  aliases: ['unlease'],
  help: {
    usage: 'release <lease>',
    description: 'Give a leased item back (it is health-checked, then goes to the next in line), or leave the line if you are still waiting.',
    whoCanUse: 'The holder of the lease, or an admin of its pool.',
    examples: ['release L-12'],
  },
  async run(ctx, args) {
    const id = args[0]?.toUpperCase();
    if (!id || args.length > 1) throw new UsageError();
    const l = await requireLeases(ctx).release(id, ctx);
    if (l.state === 'cancelled') return { text: `You left the line for ${l.pool} (${l.id}).`, kind: 'ok' };
    return { text: `Released ${l.item} (${l.id}). Thanks!`, kind: 'ok' };
  },
};

import type { Command } from './command.js';
import { UsageError } from './usage-error.js';
import { parseDuration, requireLeases, shortTime, hasLeases } from './lease-service.js';

export const renew: Command = {
  name: 'renew',
  available: hasLeases,
  aliases: ['extend'],
  help: {
    usage: 'renew <lease> [<duration>]',
    description: 'Extend your lease from now, by the given time (default: its original length, capped by the pool).',
    whoCanUse: 'The holder of the lease, or an admin of its pool.',
    examples: ['renew L-12', 'renew L-12 1h'],
  },
  async run(ctx, args) {
    const id = args[0]?.toUpperCase();
    const ttl = args[1] === undefined ? undefined : parseDuration(args[1]);
    if (!id || ttl === null || args.length > 2) throw new UsageError();
    const l = await requireLeases(ctx).renew(id, ttl, ctx);
    return { text: `Renewed ${l.id}: ${l.item} is yours until ${shortTime(l.expiresAt)}.`, kind: 'ok' };
  },
};

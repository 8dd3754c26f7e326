import type { Command } from './command.js';
import { UsageError } from './usage-error.js';
import { parseDuration, requireLeases, shortTime, hasLeases } from './lease-service.js';

/**
 * `lease [device] [<pool>] [<attribute>…] [for <duration>]`
 * - a first word naming a pool picks that pool; the other words are attributes every item
 *   must have (`android pixel-7`); with no pool named, the first pool (config order) that has
 *   such an item is used;
 * - the word `device` in front is optional filler (`lease device`), unless a pool is named so;
 * - `for 30m` / `for 2h` / `for 1d` sets the TTL (the pool's default otherwise, capped by its max).
 */
export const lease: Command = {
  name: 'lease',
  available: hasLeases,
  aliases: ['reserve'],
  help: {
    usage: 'lease [<pool>] [<attribute>…] [for <duration>]',
    description:
      'Lease a test resource (device, account, lab machine) from a pool. You get it at once when one is free; otherwise you join the line and are told your place, and told again when it is yours. Leases expire: you get an Extend / Release reminder first.',
    whoCanUse: 'Anyone.',
    examples: ['lease device', 'lease android pixel-7 for 30m', 'lease ios ios-17 for 2h'],
  },
  async run(ctx, args) {
    const leases = requireLeases(ctx);
    const words = [...args];
    let ttlSec: number | undefined;
    const forAt = words.findIndex((w) => w.toLowerCase() === 'for');
    if (forAt >= 0) {
      const d = parseDuration(words[forAt + 1]);
      if (!d || words.length !== forAt + 2) throw new UsageError('Durations look like 30m, 2h or 1d, after the word for, last.');
      ttlSec = d;
      words.splice(forAt, 2);
    }
    const result = await leases.request(words, ttlSec, ctx);
    const l = result.lease;
    if (result.status === 'granted') {
      return { text: `Granted: ${l.item} (${l.pool}) is yours until ${shortTime(l.expiresAt)} — lease ${l.id}. \`release ${l.id}\` when done.`, kind: 'ok' };
    }
    const behind = result.ahead ? ` behind ${result.ahead}` : '';
    return {
      text: `Nothing free in ${l.pool} right now: you are #${result.position} in line${behind} (request ${l.id}). I'll tell you when it is yours; \`release ${l.id}\` leaves the line.`,
      kind: 'ok',
    };
  },
};

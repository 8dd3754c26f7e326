import type { Command } from './command.js';
import { requireLeases, shortTime, hasLeases } from './lease-service.js';

export const leases: Command = {
  name: 'leases',
  available: hasLeases,
  help: {
    usage: 'leases',
    description: 'Who holds what in every resource pool, since when and until when, and who waits in line.',
    whoCanUse: 'Anyone.',
    examples: ['leases'],
  },
  async run(ctx) {
    const board = await requireLeases(ctx).board();
    const lines: string[] = [];
    for (const pool of board) {
      lines.push(`${pool.pool}:`);
      for (const item of pool.items) {
        const attrs = item.attributes.length ? ` [${item.attributes.join(', ')}]` : '';
        const l = item.lease;
        const who = l
          ? `${l.holder.name}${l.buildId ? ` (build #${l.buildId}${l.stage ? `/${l.stage}` : ''})` : ''} since ${shortTime(l.grantedAt)} until ${shortTime(l.expiresAt)} — ${l.id}`
          : item.state;
        lines.push(`  ${item.id}${attrs}: ${who}`);
      }
      pool.waiting.forEach((w, i) =>
        lines.push(
          `  #${i + 1} in line: ${w.holder.name}${w.attributes.length ? ` wants ${w.attributes.join(', ')}` : ''} (since ${shortTime(w.requestedAt)}) — ${w.id}`,
        ),
      );
    }
    return { text: lines.length ? lines.join('\n') : 'No resource pools are configured.', code: lines, kind: 'ok' };
  },
};

import type { Redis } from 'ioredis';
import { keys as makeKeys } from './keys.js';

export interface AuditEntry {
  /** e.g. `build.create`, `build.cancel`, `checkpoint.approve`, `lease.grant`, `command.denied`, `secret.deliver`, `secret.withhold`. */
  action: string;
  actorId: string;
  source: string;
  outcome: 'ok' | 'denied' | 'error';
  buildId?: string;
  sha?: string;
  stage?: string;
  step?: string;
  /** Secret names (comma-separated) a step was given or refused; never values. */
  secrets?: string;
  /** Id of the inbound event that caused it (GitHub delivery, Slack event id). */
  eventId?: string;
  detail?: string;
}

/**
 * The append-only audit trail (R10): a Redis Stream that Bosun only ever XADDs to — no
 * code path trims, edits or deletes it. Entries never carry secret values; callers pass ids
 * and short reasons, and `detail` goes through the redactor where it may hold user text.
 */
export class AuditLog {
  private readonly key: string;
  constructor(
    private readonly redis: Redis,
    prefix = 'bosun',
    private readonly redact: (text: string) => string = (t) => t,
  ) {
    this.key = makeKeys(prefix).audit;
  }

  async record(entry: AuditEntry): Promise<void> {
    const fields: string[] = ['at', new Date().toISOString()];
    for (const [k, v] of Object.entries(entry)) {
      if (v !== undefined) fields.push(k, k === 'detail' ? this.redact(String(v)) : String(v));
    }
    await this.redis.xadd(this.key, '*', ...fields);
  }

  async list(count = 100): Promise<(AuditEntry & { at: string })[]> {
    const rows = await this.redis.xrange(this.key, '-', '+', 'COUNT', count);
    return rows.map(([, fields]) => {
      const obj: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) obj[fields[i]!] = fields[i + 1]!;
      return obj as unknown as AuditEntry & { at: string };
    });
  }
}

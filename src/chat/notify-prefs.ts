import type { Redis } from 'ioredis';
import { z } from 'zod';

/** When a requester is DMed about their build: `failures` (a failed build, a wait, a decision), `always`, `never`. */
export const NotifyChoice = z.enum(['failures', 'always', 'never']);
export type NotifyChoice = z.infer<typeof NotifyChoice>;

/**
 * Each user's own choice of DMs about their builds (`notify me …`), by actor id, in one Redis
 * hash; it overrides the server's default (`slack.dmRequester`, `zulip.dmOnFinish`). Reads are
 * best effort for reporters: an unreadable or unknown value counts as no choice.
 */
export class NotifyPrefs {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private get key(): string {
    return `${this.prefix}:notify-prefs`;
  }

  async get(actorId: string): Promise<NotifyChoice | null> {
    const raw = await this.redis.hget(this.key, actorId);
    const parsed = NotifyChoice.safeParse(raw);
    return parsed.success ? parsed.data : null;
  }

  async set(actorId: string, choice: NotifyChoice): Promise<void> {
    await this.redis.hset(this.key, actorId, choice);
  }
}

/** The choice in force for a requester: theirs, else the server default. */
export async function dmChoice(prefs: Pick<NotifyPrefs, 'get'> | undefined, actorId: string, serverDefault: NotifyChoice): Promise<NotifyChoice> {
  const own = await prefs?.get(actorId).catch(() => null);
  return own ?? serverDefault;
}

/** Whether a requester who chose `choice` is DMed about `what`. */
export function wantsDm(choice: NotifyChoice, what: 'failed' | 'finished' | 'waiting' | 'decided'): boolean {
  if (choice === 'never') return false;
  if (choice === 'always') return true;
  return what !== 'finished';
}

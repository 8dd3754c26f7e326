import type { Actor } from '../src/domain/build.js';
import type { Command, CommandContext } from './command.js';
import { UsageError } from './usage-error.js';

/** When Bosun DMs a requester about their builds. */
export type NotifyChoiceName = 'failures' | 'always' | 'never';

/** Per-user DM settings (src/app/notify-service.ts), keyed by actor id. */
export interface NotifyService {
  /**
   * The actor's setting and whether they chose it (else it is the server default); null when
   * Bosun has no chat to DM this actor in (API tokens, web sign-ins).
   */
  get(actor: Actor): Promise<{ choice: NotifyChoiceName; chosen: boolean } | null>;
  set(actor: Actor, choice: NotifyChoiceName): Promise<void>;
}

const meaning: Record<NotifyChoiceName, string> = {
  failures: 'a DM when your build fails, waits for an approval or a manual check, and when someone decides on it',
  always: 'a DM whenever your build finishes, however it ends, and when it waits or is decided',
  never: 'no DMs about your builds',
};

const words: Record<string, NotifyChoiceName> = { failure: 'failures', failures: 'failures', always: 'always', never: 'never' };

export const notify: Command = {
  name: 'notify',
  available: (ctx) => !!ctx.notify,
  help: {
    usage: 'notify me [on failure|always|never]',
    description:
      'When Bosun DMs you about builds you started: on failure (also waits and decisions), always, or never. Without a value, shows your setting. Yours overrides the server default.',
    whoCanUse: 'Anyone, for themselves (Slack and Zulip users: API tokens get no DMs).',
    examples: ['notify me', 'notify me on failure', 'notify me always', 'notify me never'],
  },
  async run(ctx, args) {
    const service = requireNotify(ctx);
    const [who, ...rest] = args.map((a) => a.toLowerCase());
    if (who !== 'me') throw new UsageError('Say `notify me …`: each person chooses for themselves.');
    const value = rest[0] === 'on' ? rest.slice(1) : rest;
    if (value.length > 1 || (value.length === 1 && !words[value[0] ?? ''])) throw new UsageError('Choose one of: on failure, always, never.');
    const current = await service.get(ctx.actor);
    if (!current)
      return {
        text: `Bosun DMs Slack and Zulip users about their builds; ${ctx.actor.name} (${ctx.actor.id}) has no chat to DM. Type \`notify me …\` in Slack or Zulip.`,
        kind: 'error',
        ephemeral: true,
      };
    const choice = words[value[0] ?? ''];
    if (!choice) {
      const whose = current.chosen ? 'your choice' : 'the server default; `notify me on failure|always|never` to choose';
      return { text: `You get ${meaning[current.choice]} (${current.choice}: ${whose}).`, kind: 'ok', ephemeral: true };
    }
    await service.set(ctx.actor, choice);
    return { text: `Done: you get ${meaning[choice]} (${choice}).`, kind: 'ok', ephemeral: true };
  },
};

function requireNotify(ctx: CommandContext): NotifyService {
  if (!ctx.notify) throw new UsageError('This Bosun has no chat to send DMs in (neither Slack nor Zulip is configured).');
  return ctx.notify;
}

import type { NotifyService } from '../../commands/notify.js';
import { NotifyPrefs, type NotifyChoice } from '../chat/notify-prefs.js';
import { realmHost } from '../chat/zulip/zulip-config.js';
import type { ServerConfig } from '../config.js';
import type { Core } from './open-core.js';

/**
 * `notify me …` for this server: Slack users (`slack:<team>/<user>`) when Slack is configured,
 * Zulip users of the configured realm (`zulip:<host>/<id>`) when Zulip is; their own choice
 * (Redis) or the server default of their chat. Undefined when neither chat is configured.
 */
export function makeNotifyService(core: Pick<Core, 'config' | 'redis' | 'prefix'>): NotifyService | undefined {
  if (!core.config.slack && !core.config.zulip) return undefined;
  const prefs = new NotifyPrefs(core.redis, core.prefix);
  const serverDefault = (actorId: string) => notifyDefault(core.config, actorId);
  return {
    async get(actor) {
      const fallback = serverDefault(actor.id);
      if (!fallback) return null;
      const own = await prefs.get(actor.id);
      return own ? { choice: own, chosen: true } : { choice: fallback, chosen: false };
    },
    async set(actor, choice) {
      if (!serverDefault(actor.id)) return;
      await prefs.set(actor.id, choice);
    },
  };
}

/** The server default for an actor's DMs, or null when Bosun cannot DM this actor. */
export function notifyDefault(config: Pick<ServerConfig, 'slack' | 'zulip'>, actorId: string): NotifyChoice | null {
  if (config.slack && /^slack:[A-Z0-9]+\/[A-Z0-9]+$/.test(actorId)) return config.slack.dmRequester;
  const m = /^zulip:([^/]+)\/\d{1,12}$/.exec(actorId);
  if (config.zulip && m && m[1] === realmHost(config.zulip.realm)) return zulipDefault(config.zulip.dmOnFinish);
  return null;
}

/** `zulip.dmOnFinish` as a choice: true DMs every finish and wait (`always`), false none. */
export function zulipDefault(dmOnFinish: boolean): NotifyChoice {
  return dmOnFinish ? 'always' : 'never';
}

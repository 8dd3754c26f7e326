import { commandServices } from '../../app/command-services.js';
import type { FrontendFactory } from '../../app/frontend.js';
import type { Build } from '../../domain/build.js';
import { RateLimiter } from '../slack/rate-limiter.js';
import type { ZulipConfig } from './zulip-config.js';
import { realmHost } from './zulip-config.js';
import { makeZulipApi, redactingZulipApi } from './zulip-api.js';
import { ZulipEventQueue } from './event-queue.js';
import { ZulipInbound } from './zulip-inbound.js';
import { ZulipLeaseNotifier } from './lease-notifier.js';
import { ZulipLiveLog } from './live-log.js';
import { TopicReporter } from './topic-reporter.js';
import { TopicStore } from './topic-store.js';
import { zulipWebhookRoute } from './webhook-route.js';
import { NotifyPrefs } from '../notify-prefs.js';
import { approvalFactsFor } from '../approval-facts-source.js';
import { zulipDefault } from '../../app/notify-service.js';

/**
 * The Zulip front end and topic reporter, a peer of Slack's over the same commands. Incoming:
 * the real-time event queue (default) or outgoing-webhook bot mode (`POST /zulip/webhook`).
 * Outgoing: a topic per build in the repository's stream, DMs, reactions. Null when the server
 * config has no `zulip` section.
 */
export const zulipFrontend: FrontendFactory = async (core, builds) => {
  const config = core.config.zulip;
  if (!config) return null;
  const log = core.log.child({ component: 'zulip' });
  const host = realmHost(config.realm);
  const raw = await makeZulipApi({ realm: config.realm, email: config.email, apiKey: config.apiKey, log, maxRetryAfterSec: config.maxRetryAfterSec });
  const api = redactingZulipApi(raw, core.redact);
  const store = new TopicStore(core.redis, core.prefix);
  const bot = { userId: 0, fullName: 'Bosun' };
  const mention = () => `@**${bot.fullName}**`;
  const streamOf = (build: Build) => streamFor(config, build);
  const buildUrl = (id: string) => builds.buildUrl(id);
  const liveLog = new ZulipLiveLog({
    api,
    store,
    logs: core.logs,
    limiter: new RateLimiter(config.logEditsPerMinute),
    intervalMs: config.logEditIntervalMs,
    log,
  });
  const reporter = new TopicReporter({
    api,
    store,
    liveLog,
    builds,
    logs: core.logs,
    streamOf,
    realmHost: host,
    reactions: config.mode === 'events',
    dmDefault: zulipDefault(config.dmOnFinish),
    notifyPrefs: new NotifyPrefs(core.redis, core.prefix),
    approvalFacts: approvalFactsFor(core),
    buildUrl,
    log,
    get bot() {
      return mention();
    },
  });
  const inbound = new ZulipInbound({
    api,
    builds,
    services: commandServices(core),
    cards: store,
    redis: core.redis,
    prefix: core.prefix,
    realmHost: host,
    bot,
    ...(config.commandPrefix ? { commandPrefix: config.commandPrefix } : {}),
    streamOf,
    mode: config.mode,
    log,
  });
  const queue =
    config.mode === 'events'
      ? new ZulipEventQueue({
          api,
          redis: core.redis,
          prefix: core.prefix,
          log,
          onEvent: (ev) => (ev.type === 'message' ? inbound.onMessage(ev.message, ev.flags) : inbound.onReaction(ev)),
          onMissedMessage: (m) => inbound.onMessage(m, m.flags ?? []),
          lastMessageId: () => inbound.lastMessageId(),
          onCatchUp: async () => {
            for (const card of await store.openCards()) {
              for (const r of await api.reactionsOf(card)) await inbound.onReaction({ type: 'reaction', id: -1, op: 'add', message_id: card, ...r });
            }
          },
        })
      : null;
  const firstSeen = async (id: string) => (await core.redis.set(`${core.prefix}:zulip:seen:${id}`, '1', 'EX', 7 * 24 * 3600, 'NX')) === 'OK';
  return {
    name: 'zulip',
    ...(config.mode === 'webhook' && config.webhookToken
      ? { http: zulipWebhookRoute({ token: config.webhookToken, log, onMessage: (m, trigger) => inbound.onMessage(m, [], trigger) }) }
      : {}),
    async start() {
      const me = await api.me();
      bot.userId = me.userId;
      bot.fullName = me.fullName;
      core.bus.subscribe(reporter);
      core.bus.subscribe(new ZulipLeaseNotifier(api, host, mention(), firstSeen));
      queue?.start();
      log.info({ mode: config.mode, realm: host, bot: me.userId }, 'Zulip front end started');
    },
    async stop() {
      await queue?.stop();
      await liveLog.stop();
    },
  };
};

/**
 * The stream a build's topic goes to: the repository's configured stream; else, for a build
 * asked for in a Zulip stream, that stream; else the default stream; else none.
 */
export function streamFor(config: Pick<ZulipConfig, 'streams' | 'defaultStream'>, build: Pick<Build, 'repo' | 'trigger'>): string | null {
  const configured = config.streams[build.repo];
  if (configured) return configured;
  const chat = build.trigger.chat;
  if (chat?.platform === 'zulip' && chat.channel.startsWith('stream:')) return chat.channel.slice('stream:'.length);
  return config.defaultStream ?? null;
}

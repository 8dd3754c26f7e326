import type { Logger as BoltLogger, LogLevel } from '@slack/bolt';
import { commandServices } from '../../app/command-services.js';
import { redisUnavailableMessage } from '../../http/redis-gate.js';
import { LeaseNotifier } from './lease-notifier.js';
import { RefusalNotifier } from './refusal-notifier.js';
import { StageNoticeNotifier } from './stage-notice-notifier.js';
import type { FrontendFactory } from '../../app/frontend.js';
import type { Logger } from '../../logger.js';
import { FastifySlackReceiver } from './fastify-slack-receiver.js';
import { LiveLog } from './live-log.js';
import { RateLimiter } from './rate-limiter.js';
import { registerListeners } from './register-listeners.js';
import { quietSlackApi, redactingSlackApi, type SlackApi } from './slack-api.js';
import { ThreadReporter } from './thread-reporter.js';
import { ThreadStore } from './thread-store.js';
import { UserError } from '../../errors.js';
import { commitTitle } from '../../git/commit-title.js';
import { approvalFactsFor } from '../approval-facts-source.js';
import { NotifyPrefs } from '../notify-prefs.js';

/**
 * The Slack front end and build-thread reporter. Socket Mode (default) or HTTP mode on
 * Bosun's own server; null when the server config has no `slack` section. Bolt (with its
 * web API client, Socket Mode and HTTP stacks, ~30 MiB resident) is loaded only then.
 */
export const slackFrontend: FrontendFactory = async (core, builds) => {
  const config = core.config.slack;
  if (!config) return null;
  for (const group of Object.keys(config.approverChannels)) {
    if (!core.config.groups[group]) throw new UserError('config_invalid', `slack.approverChannels.${group}: there is no group "${group}" in groups`);
  }
  const { App, LogLevel, SocketModeReceiver } = await import('@slack/bolt');
  const log = core.log.child({ component: 'slack' });
  const dedupeTtlSec = config.timestampWindowSec * 2 + 60;
  const firstSeen = async (id: string) => (await core.redis.set(`${core.prefix}:slack:seen:${id}`, '1', 'EX', dedupeTtlSec, 'NX')) === 'OK';
  const clientOptions = config.apiUrl ? { slackApiUrl: config.apiUrl } : {};
  const logger = boltLogger(log, LogLevel.WARN);
  const httpReceiver =
    config.mode === 'http'
      ? new FastifySlackReceiver({ signingSecret: config.signingSecret ?? '', windowSec: config.timestampWindowSec, log, firstSeen })
      : null;
  const receiver = httpReceiver ?? new SocketModeReceiver({ appToken: config.appToken ?? '', logger, installerOptions: { clientOptions } });
  const app = new App({ token: config.botToken, receiver, clientOptions, logger, logLevel: LogLevel.WARN });
  const api = quietSlackApi(redactingSlackApi(app.client as unknown as SlackApi, core.redact));
  const store = new ThreadStore(core.redis, core.prefix);
  const liveLog = new LiveLog({
    api,
    store,
    logs: core.logs,
    limiter: new RateLimiter(config.logEditsPerMinute),
    intervalMs: config.logEditIntervalMs,
    afterMs: config.liveLogAfterMs,
    log,
  });
  const reporter = new ThreadReporter({
    api,
    store,
    liveLog,
    builds,
    logs: core.logs,
    config,
    groups: core.config.groups,
    buildUrl: (id) => builds.buildUrl(id),
    notifyPrefs: new NotifyPrefs(core.redis, core.prefix),
    commitTitle: (b) => commitTitle(core.config, core.deps.mirrors, b.repo, b.sha),
    approvalFacts: approvalFactsFor(core),
    log,
  });
  registerListeners(app, {
    builds,
    api,
    command: config.command,
    log,
    firstSeen,
    services: commandServices(core),
    unavailable: () => (core.redisHealth.up ? null : redisUnavailableMessage(core.redisHealth.retryAfterSec)),
  });
  return {
    name: 'slack',
    ...(httpReceiver ? { http: httpReceiver.plugin } : {}),
    async start() {
      await app.start();
      core.bus.subscribe(reporter);
      core.bus.subscribe(new LeaseNotifier(api, firstSeen));
      core.bus.subscribe(new RefusalNotifier(api, config, firstSeen));
      core.bus.subscribe(new StageNoticeNotifier(api, store, firstSeen));
      log.info({ mode: config.mode }, 'Slack front end started');
      if (!core.config.http.publicUrl)
        log.warn('http.publicUrl (BOSUN_PUBLIC_URL) is not set: Slack messages and approval cards carry no link to the build page');
    },
    async ready() {
      if (httpReceiver) return { ok: true, detail: 'HTTP mode (Slack calls us)' };
      const active = (receiver as InstanceType<typeof SocketModeReceiver>).client.websocket?.isActive() ?? false;
      return active ? { ok: true, detail: 'Socket Mode connected' } : { ok: false, detail: 'Socket Mode not connected' };
    },
    async stop() {
      await app.stop().catch((err: unknown) => log.warn({ err }, 'Slack stop failed'));
      await liveLog.stop();
    },
  };
};

/** Bolt's logger interface over pino (Bolt passes template strings; we keep them as data). */
function boltLogger(log: Logger, initial: LogLevel): BoltLogger {
  let level = initial;
  return {
    debug: (...msg: unknown[]) => log.debug({ msg }, 'Bolt debug'),
    info: (...msg: unknown[]) => log.debug({ msg }, 'Bolt info'),
    warn: (...msg: unknown[]) => log.warn({ msg }, 'Bolt warning'),
    error: (...msg: unknown[]) => log.error({ msg }, 'Bolt error'),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}

/** The build page link; the public URL may only be known once the server listens. */

import type { Frontend } from './frontend.js';
import type { Core } from './open-core.js';
import { makeTokenAuth } from '../http/api-auth.js';
import { registerEventsRoute } from '../http/events-route.js';
import { registerBadgeRoute } from '../http/badge-route.js';
import { registerAuditRoute } from '../http/audit-route.js';
import { BosunMetrics } from '../metrics/bosun-metrics.js';
import { principalCan } from '../http/auth/principal.js';
import { WebhookStore } from '../events/webhooks/webhook-store.js';
import { startWebhookFanout } from '../events/webhooks/webhook-fanout.js';
import { startDispatcher } from '../events/webhooks/webhook-dispatcher.js';
import { registerWebhookRoutes } from '../events/webhooks/webhook-routes.js';

/**
 * Integrations: outgoing webhooks (fan-out and one dispatcher per endpoint), `GET /api/events`,
 * `/metrics`, build badges and `GET /api/audit`. Always on; the webhook machinery runs only
 * when `webhooks` is configured. First in the registry, so the metrics hook that times GitHub
 * webhook acks is in place before the GitHub route registers.
 */
export function integrationsFrontend(core: Core): Frontend {
  const log = core.log.child({ frontend: 'integrations' });
  const metrics = new BosunMetrics(core);
  const store = new WebhookStore(core.redis, core.prefix);
  const endpoints = core.config.webhooks;
  const dispatchers = new Map<string, ReturnType<typeof startDispatcher>>();
  let fanout: { stop(): Promise<void> } | null = null;

  return {
    name: 'integrations',
    http(app) {
      // The API token list is complete by now (startServer adds the generated one first).
      const auth = makeTokenAuth(core.config.apiTokens);
      metrics.plugin()(app);
      registerEventsRoute(app, { bus: core.bus, canRead: (req) => principalCan(req, 'read') });
      registerAuditRoute(app, { audit: core.audit, auth });
      registerBadgeRoute(app, {
        repos: () => Object.keys(core.config.repos),
        list: (repo) => core.store.list({ repo, limit: 200 }),
        visible: (req, repo) => principalCan(req, 'read') || core.config.repos[repo]?.public === true,
      });
      registerWebhookRoutes(app, {
        endpoints,
        store,
        bus: core.bus,
        auth,
        wake: (id) => dispatchers.get(id)?.wake(),
        audit: (action, actor, detail) => core.audit.record({ action, actorId: actor.id, source: 'api', outcome: 'ok', detail }),
      });
    },
    async start() {
      await metrics.start();
      if (endpoints.length === 0) return;
      for (const endpoint of endpoints) {
        dispatchers.set(
          endpoint.id,
          startDispatcher(endpoint, {
            store,
            policy: core.config.webhookDelivery,
            log,
            publish: (event) => core.bus.publish(event),
            onAttempt: (id, outcome, seconds) => metrics.observeWebhookAttempt(id, outcome, seconds),
          }),
        );
      }
      fanout = startWebhookFanout({
        bus: core.bus,
        store,
        endpoints,
        maxPending: core.config.webhookDelivery.maxPending,
        log,
        onQueued: () => {
          for (const d of dispatchers.values()) d.wake();
        },
      });
      log.info({ webhooks: endpoints.map((e) => e.id) }, 'Outgoing webhooks started');
    },
    async stop() {
      await fanout?.stop();
      await Promise.all([...dispatchers.values()].map((d) => d.stop()));
      dispatchers.clear();
      await metrics.stop();
    },
  };
}

import Fastify, { type FastifyInstance } from 'fastify';
import type { BuildService } from '../../commands/command.js';
import type { Core } from '../app/open-core.js';
import { setUpAuth } from './auth/set-up-auth.js';
import { registerApiRoutes } from './api-routes.js';
import { registerArtifactRoutes } from './artifact-routes.js';
import { registerWebRoutes } from './web-routes.js';
import type { WebSession } from './web/web-session.js';
import { commandServices } from '../app/command-services.js';
import { DeployStore } from '../deploys/deploy-store.js';
import { approvalFactsFor } from '../chat/approval-facts-source.js';
import { registerHealthRoutes, type ReadinessCheck } from './health-routes.js';
import { registerRedisGate } from './redis-gate.js';

/** A route group contributed by a front end (GitHub webhooks, Slack HTTP mode, …). */
export type HttpPlugin = (app: FastifyInstance) => void | Promise<void>;

/**
 * The HTTP server: API, SSE, web console, and whatever front ends register. Bodies are
 * capped by fastify before buffering (1 MiB default; routes may set their own, R6) and
 * slow clients are cut off by request and header timeouts. While Redis is unreachable every
 * route but the health checks and the static console answers 503 (`registerRedisGate`). Who may
 * read and do what is decided by the auth layer (`setUpAuth`, docs/auth.md), before any route.
 */
export async function createHttpServer(
  core: Core,
  builds: BuildService,
  plugins: HttpPlugin[] = [],
  checks: ReadinessCheck[] = [],
  web: { session?: WebSession } = {},
): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: 1024 * 1024,
    requestTimeout: 30_000,
    connectionTimeout: 30_000,
    return503OnClosing: true,
  });
  registerRedisGate(app, core.redisHealth);
  registerHealthRoutes(app, checks);
  const auth = await setUpAuth(app, core);
  registerApiRoutes(app, core, builds, auth);
  registerArtifactRoutes(app, core);
  registerWebRoutes(app, {
    store: core.store,
    logs: core.logs,
    builds,
    repos: () => Object.keys(core.config.repos),
    deployRecords: { environments: () => core.config.environments, store: new DeployStore(core.redis, core.prefix) },
    approvalFacts: approvalFactsFor(core),
    ...commandServices(core),
    ...(web.session ? { session: web.session } : {}),
  });
  for (const plugin of plugins) await plugin(app);
  return app;
}

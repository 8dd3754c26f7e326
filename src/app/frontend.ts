import type { BuildService } from '../../commands/command.js';
import type { HttpPlugin } from '../http/http-server.js';
import type { Core } from './open-core.js';
import type { CheckResult } from '../http/health-routes.js';

/**
 * A front end or reporter that plugs into the server: GitHub webhooks and statuses, Slack,
 * Zulip, outgoing webhooks, the lease janitor. Each decides from `core.config` whether it is
 * enabled (returns null when not). Front ends do transport only and hand work to the
 * command layer and the pipeline verbs.
 *
 * Lifecycle: `http` routes are registered before the server listens; `start()` runs after it
 * listens (open sockets, subscribe to the event stream); `stop()` runs before Redis closes and
 * must be safe to call after a failed `start()`. `ready()`, when present, reports its outside
 * connection (a chat socket) for `/readyz`; it must answer quickly and not touch Redis.
 */
export interface Frontend {
  name: string;
  http?: HttpPlugin;
  start?(): Promise<void>;
  stop?(): Promise<void>;
  ready?(): Promise<CheckResult>;
}

export type FrontendFactory = (core: Core, builds: BuildService) => Promise<Frontend | null> | Frontend | null;

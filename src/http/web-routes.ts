import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { BuildService } from '../../commands/command.js';
import type { LeaseService } from '../../commands/lease-service.js';
import type { Build } from '../domain/build.js';
import type { RunStatus } from '../domain/status.js';
import type { LogStore } from '../logs/log-store.js';
import type { BuildStore } from '../storage/build-store.js';
import { redisFree } from './redis-gate.js';
import { registerLogRoutes } from './log-routes.js';
import { bundleConsole, type ConsoleBundle } from './web/console-bundle.js';
import { layout } from './web/pages/layout.js';
import { html, type SafeHtml } from './web/html.js';
import { buildsPage, findBuilds, runStatuses, type BuildFilters } from './web/pages/builds-page.js';
import { buildPage } from './web/pages/build-page.js';
import { approvalsPage, waitingCheckpoints } from './web/pages/approvals-page.js';
import { leasesPage } from './web/pages/leases-page.js';
import { environmentHistoryLength, environmentsPage, type EnvironmentBoard } from './web/pages/environments-page.js';
import type { Deploy } from '../domain/deploy.js';
import type { DeployStore } from '../deploys/deploy-store.js';
import type { Environments } from '../deploys/environment-config.js';
import { readNotice, registerWebActions } from './web/web-actions.js';
import { sessionFromAuth, type WebSession } from './web/web-session.js';
import type { ApprovalFacts } from '../chat/approval-facts.js';

/** What the web console reads and calls. */
export interface WebConsoleDeps {
  store: Pick<BuildStore, 'get' | 'list' | 'activeIds'>;
  logs: LogStore;
  builds: BuildService;
  leases?: LeaseService;
  repos(): string[];
  /** Who is signed in, and the CSRF check (default: the sign-in layer's session, `sessionFromAuth`). */
  session?: WebSession;
  /** Deploy records (read only): the environments page and a build's deploys. */
  deployRecords?: DeployRecords;
  /** The approval card's facts (src/chat/approval-facts.ts) for the approvals page, best effort. */
  approvalFacts?(build: Build, stage: string): Promise<ApprovalFacts>;
}

/** How long the approvals page waits for a card's facts (commit ranges read the mirror) before it shows the card without. */
const approvalFactsWaitMs = 3000;

/** What the console reads about deploys: the configured environments and the deploy store. */
export interface DeployRecords {
  environments(): Environments;
  store: Pick<DeployStore, 'history' | 'getLock'>;
}

/** How many of a repository's newest deploys the build page searches for the build's own. */
export const buildDeployScan = 200;

/**
 * The web console: server-rendered pages (builds, a build with its stage graph and log
 * viewer, waiting approvals, leases, environments), the log viewer's script (bundled by esbuild at start),
 * the live log stream, and the form posts (approve/reject, release/renew).
 */
export function registerWebRoutes(app: FastifyInstance, deps: WebConsoleDeps): void {
  const session = deps.session ?? sessionFromAuth();
  let bundle: Promise<ConsoleBundle> | null = null;
  const script = () =>
    (bundle ??= bundleConsole().catch((err: unknown) => {
      bundle = null;
      throw err;
    }));
  void script().catch(() => undefined); // built at start; a failure is retried (and shown) on first request

  const page = async (
    req: FastifyRequest,
    reply: FastifyReply,
    title: string,
    body: (actor: Awaited<ReturnType<WebSession['actor']>>, csrf: string) => Promise<SafeHtml> | SafeHtml,
    script = false,
  ) => {
    const actor = await session.actor(req);
    const csrf = actor ? await session.csrfToken(req) : '';
    const content = await body(actor, csrf);
    return reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('x-content-type-options', 'nosniff')
      .header(
        'content-security-policy',
        "default-src 'self'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
      )
      .send(layout({ title, actor, script, ...readNotice(app, req) }, content));
  };

  // The script holds no data: it answers without Redis, and to signed-out visitors (`auth: 'open'` for the sign-in layer).
  app.get('/assets/console.js', { config: { ...redisFree, auth: 'open' } as typeof redisFree }, async (req, reply) => {
    const b = await script();
    reply.header('etag', b.etag).header('cache-control', 'no-cache').type('text/javascript; charset=utf-8');
    if (req.headers['if-none-match'] === b.etag) return reply.code(304).send();
    return reply.send(b.js);
  });

  app.get('/', async (req, reply) => {
    // Signed out (or a token without `read`): only the repositories the server makes public.
    const readable = deps.repos().filter((r) => req.server.bosunAuth?.canReadRepo(req, r) ?? true);
    const f = { ...filters(req.query as Record<string, unknown>, readable), ...(readable.length < deps.repos().length ? { repos: new Set(readable) } : {}) };
    const result = await findBuilds(deps.store, f);
    return page(req, reply, 'Builds', () => buildsPage(result, f, readable));
  });

  app.get('/builds/:id', async (req, reply) => {
    const id = (req.params as { id: string }).id;
    const build = /^\d{1,12}$/.test(id) ? await deps.store.get(id) : null;
    if (!build)
      return reply
        .code(404)
        .type('text/html; charset=utf-8')
        .send(layout({ title: 'Not found', actor: null }, html`<h1>No build #${id.slice(0, 12)}</h1>`));
    const deploys: Deploy[] = deps.deployRecords
      ? (await deps.deployRecords.store.history({ repo: build.repo }, buildDeployScan)).filter((d) => d.buildId === build.id)
      : [];
    return page(req, reply, `#${build.id} ${build.repo}`, (actor, csrf) => buildPage(build, actor, csrf, deploys), true);
  });

  app.get('/approvals', async (req, reply) => {
    const ids = await deps.store.activeIds();
    const builds = (await Promise.all(ids.map((id) => deps.store.get(id)))).filter((b): b is Build => b !== null).sort((a, b) => Number(a.id) - Number(b.id));
    const waiting = waitingCheckpoints(builds);
    const facts = await Promise.all(waiting.map(({ build, stage }) => factsWithin(deps, build, stage.name)));
    return page(req, reply, 'Approvals', (actor, csrf) =>
      approvalsPage(
        waiting.map((w, i) => ({ ...w, ...(facts[i] ? { facts: facts[i] } : {}) })),
        actor,
        csrf,
      ),
    );
  });

  app.get('/leases', async (req, reply) => {
    const board = deps.leases ? await deps.leases.board() : null;
    return page(req, reply, 'Leases', (actor, csrf) => leasesPage(board, actor, csrf));
  });

  // No `config.auth`: closed like every page (the `read` rule); a signed-out browser is sent to sign in.
  app.get('/environments', async (req, reply) => {
    const records = deps.deployRecords;
    const configured = records ? Object.entries(records.environments()) : [];
    let boards: EnvironmentBoard[] | null = null;
    if (records && configured.length > 0) {
      const readable = configured.filter(([, c]) => req.server.bosunAuth?.canReadRepo(req, c.repo) ?? true);
      boards = await Promise.all(
        readable
          .sort(([a], [b]) => a.localeCompare(b))
          .map(async ([name, config]) => {
            // What runs there: the last success among its 100 newest deploys (as `envs` does).
            const [scan, lock] = await Promise.all([records.store.history({ environment: name }, 100), records.store.getLock(name)]);
            const current = scan.find((d) => d.state === 'succeeded');
            return { name, config, recent: scan.slice(0, environmentHistoryLength), ...(current ? { current } : {}), ...(lock ? { lock } : {}) };
          }),
      );
    }
    return page(req, reply, 'Environments', () => environmentsPage(boards));
  });

  registerLogRoutes(app, { store: deps.store, logs: deps.logs });
  registerWebActions(app, { builds: deps.builds, session, ...(deps.leases ? { leases: deps.leases } : {}) });
}

function filters(q: Record<string, unknown>, repos: string[]): BuildFilters {
  const str = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v.trim().slice(0, 250) : undefined);
  const repo = str(q.repo);
  const status = str(q.status);
  const from = Number(str(q.from) ?? 0);
  return {
    ...(repo && repos.includes(repo) ? { repo } : {}),
    ...(str(q.branch) ? { branch: str(q.branch)! } : {}),
    ...(status && runStatuses.includes(status as RunStatus) ? { status: status as RunStatus } : {}),
    ...(str(q.person) ? { person: str(q.person)! } : {}),
    from: Number.isInteger(from) && from >= 0 && from < 1e9 ? from : 0,
  };
}

/** A card's facts, or undefined when they are not known within `approvalFactsWaitMs` (the page never waits longer). */
async function factsWithin(deps: WebConsoleDeps, build: Build, stage: string): Promise<ApprovalFacts | undefined> {
  if (!deps.approvalFacts) return undefined;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), approvalFactsWaitMs);
  });
  try {
    return await Promise.race([deps.approvalFacts(build, stage).catch(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}

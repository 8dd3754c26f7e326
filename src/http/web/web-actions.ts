import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { BuildService, CommandContext } from '../../../commands/command.js';
import type { LeaseService } from '../../../commands/lease-service.js';
import { parseDuration } from '../../../commands/lease-service.js';
import type { Actor } from '../../domain/build.js';
import { CodedError } from '../../errors.js';
import { HttpError } from '../api-routes.js';
import type { WebSession } from './web-session.js';

/** What the console's actions need: the same services chat commands use. */
export interface WebActionDeps {
  builds: BuildService;
  leases?: LeaseService;
  session: WebSession;
}

const notices = new WeakMap<FastifyInstance, Buffer>();

/** A redirect notice is shown only when signed by this server, so a crafted link cannot put words on a page. */
function noticeKey(app: FastifyInstance): Buffer {
  let key = notices.get(app);
  if (!key) notices.set(app, (key = randomBytes(32)));
  return key;
}

export function signNotice(app: FastifyInstance, text: string, kind: 'ok' | 'error'): string {
  return createHmac('sha256', noticeKey(app)).update(`${kind}\n${text}`).digest('base64url').slice(0, 22);
}

/** The notice on this request's URL, if signed by this server. */
export function readNotice(app: FastifyInstance, req: FastifyRequest): { notice: string; noticeKind: 'ok' | 'error' } | Record<string, never> {
  const q = req.query as Record<string, unknown>;
  const text = typeof q.notice === 'string' ? q.notice.slice(0, 500) : '';
  const kind = q.kind === 'error' ? 'error' : 'ok';
  const sig = typeof q.sig === 'string' ? Buffer.from(q.sig) : Buffer.alloc(0);
  const want = Buffer.from(signNotice(app, text, kind));
  return text && sig.length === want.length && timingSafeEqual(sig, want) ? { notice: text, noticeKind: kind } : {};
}

const backPaths = /^\/(?:approvals|leases|builds\/\d{1,12})?$/;

/**
 * The console's state-changing form posts. Each one, in this order: CSRF check (the sign-in
 * layer's `verifyCsrf`, plus a same-origin check), the signed-in person, then the same service
 * call chat makes (`decide` with R9 and N-of-M; lease `release`/`renew`, owner-checked), and a
 * 303 back to the page with the outcome as a notice.
 */
export function registerWebActions(app: FastifyInstance, deps: WebActionDeps): void {
  app.register(async (scope) => {
    // Forms post urlencoded (unless another part of Bosun, e.g. the sign-in layer, already parses it).
    if (!scope.hasContentTypeParser('application/x-www-form-urlencoded')) {
      scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16 * 1024 }, (_req, body, done) => {
        done(null, Object.fromEntries(new URLSearchParams(body as string)));
      });
    }

    const act =
      (handler: (req: FastifyRequest, form: Record<string, string>, ctx: CommandContext) => Promise<{ text: string; back: string }>) =>
      async (req: FastifyRequest, reply: FastifyReply) => {
        const form = (req.body ?? {}) as Record<string, string>;
        // ── CSRF: the one place every state-changing console request is checked. ──
        await deps.session.verifyCsrf(req, form._csrf);
        requireSameOrigin(req);
        // ──────────────────────────────────────────────────────────────────────────
        const actor = await deps.session.actor(req);
        if (!actor) throw new HttpError(401, 'unauthorized', 'sign in to do this');
        const fallback = typeof form.back === 'string' && backPaths.test(form.back) ? form.back : '/';
        try {
          const { text, back } = await handler(req, form, contextFor(actor, deps));
          return redirect(app, reply, back, text, 'ok');
        } catch (err) {
          if (err instanceof CodedError && !err.retryable) return redirect(app, reply, fallback, err.message, 'error');
          throw err;
        }
      };

    scope.post(
      '/builds/:id/stages/:stage/:decision',
      act(async (req, form, ctx) => {
        const p = req.params as { id: string; stage: string; decision: string };
        if (!/^\d{1,12}$/.test(p.id) || (p.decision !== 'approve' && p.decision !== 'reject')) throw new HttpError(404, 'not_found', 'no such action');
        const back = typeof form.back === 'string' && backPaths.test(form.back) ? form.back : `/builds/${p.id}`;
        const { build, outcome } = await deps.builds.decide(p.id, p.stage, p.decision === 'approve' ? 'pass' : 'fail', ctx);
        const state = build.stages.find((s) => s.name === p.stage)?.checkpointState;
        const left = state ? Math.max(state.required - state.approvals.length, 0) : 0;
        const text =
          outcome === 'recorded'
            ? `Approval recorded for #${build.id} ${p.stage}; ${left} more needed.`
            : `${outcome === 'passed' ? 'Approved' : 'Rejected'} ${p.stage} of #${build.id}.`;
        return { text, back };
      }),
    );

    scope.post(
      '/leases/:id/release',
      act(async (req, _form, ctx) => {
        const id = (req.params as { id: string }).id.toUpperCase();
        const l = await requireLeases(deps).release(id, ctx);
        return { text: l.state === 'cancelled' ? `You left the line for ${l.pool} (${l.id}).` : `Released ${l.item ?? l.id} (${l.id}).`, back: '/leases' };
      }),
    );

    scope.post(
      '/leases/:id/renew',
      act(async (req, form, ctx) => {
        const id = (req.params as { id: string }).id.toUpperCase();
        const ttl = form.ttl ? parseDuration(form.ttl) : undefined;
        if (ttl === null) throw new HttpError(400, 'bad_request', 'ttl: expected a duration like 30m or 2h');
        const l = await requireLeases(deps).renew(id, ttl, ctx);
        return { text: `Renewed ${l.id}: ${l.item ?? ''} until ${l.expiresAt ?? '?'}.`, back: '/leases' };
      }),
    );
  });
}

function contextFor(actor: Actor, deps: WebActionDeps): CommandContext {
  return { actor, source: 'web', builds: deps.builds, ...(deps.leases ? { leases: deps.leases } : {}) };
}

function requireLeases(deps: WebActionDeps): LeaseService {
  if (!deps.leases) throw new HttpError(404, 'not_found', 'this Bosun has no resource pools configured');
  return deps.leases;
}

/**
 * Browsers send `Origin` (and `Sec-Fetch-Site`) on form posts: one from another site is
 * refused whatever the session says.
 */
function requireSameOrigin(req: FastifyRequest): void {
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') throw new HttpError(403, 'forbidden', 'cross-site form posts are refused');
  const origin = req.headers.origin;
  if (origin && origin !== 'null') {
    let host: string;
    try {
      host = new URL(origin).host;
    } catch {
      host = '';
    }
    if (host !== req.headers.host) throw new HttpError(403, 'forbidden', 'cross-site form posts are refused');
  }
}

function redirect(app: FastifyInstance, reply: FastifyReply, back: string, text: string, kind: 'ok' | 'error'): FastifyReply {
  const params = new URLSearchParams({ notice: text, ...(kind === 'error' ? { kind } : {}), sig: signNotice(app, text, kind) });
  return reply.code(303).header('location', `${back}?${params.toString()}`).send();
}

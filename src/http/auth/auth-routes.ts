import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ServerConfig } from '../../config.js';
import { CodedError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { AuditEntry } from '../../storage/audit-log.js';
import { HttpError } from '../api-routes.js';
import { redisFree } from '../redis-gate.js';
import { Scope } from './auth-config.js';
import type { AuthLayer } from './auth-layer.js';
import type { ApiTokenStore } from './api-token-store.js';
import { parseCookies, serializeCookie } from './cookies.js';
import { GithubSignIn } from './github-sign-in.js';
import type { Principal } from './principal.js';
import type { SignedCodec } from './session-codec.js';
import { SlackSignIn, type PendingLogin } from './slack-sign-in.js';

const loginCookie = 'bosun_login';
const PendingLoginSchema = z.object({
  provider: z.enum(['slack', 'github']),
  state: z.string(),
  nonce: z.string().optional(),
  verifier: z.string().optional(),
  next: z.string(),
  exp: z.number(),
});
const TokenBody = z.object({
  name: z.string().trim().min(1).max(100),
  scopes: z
    .union([Scope, z.array(Scope)])
    .transform((s) => (Array.isArray(s) ? s : [s]))
    .pipe(z.array(Scope).min(1, 'pick at least one scope')),
});
const TokenId = z.object({ id: z.string().regex(/^[0-9a-f]{12}$/) });

export interface AuthRoutesDeps {
  config: ServerConfig;
  layer: AuthLayer;
  codec: SignedCodec;
  tokens: ApiTokenStore;
  log: Logger;
  /** The audit trail: sign-ins (and refusals), sign-outs, tokens made and revoked. */
  audit(entry: AuditEntry): Promise<void>;
  fetchFn?: typeof fetch;
}

/**
 * Sign-in, sign-out and API-token management:
 * `GET /auth/login` (the providers configured), `GET /auth/{slack,github}` → provider →
 * `GET /auth/{slack,github}/callback` (session cookie set, back to `next`), `POST /auth/logout`,
 * `GET /auth/me`, the token page `GET/POST /auth/tokens` and `POST /auth/tokens/:id/revoke`,
 * and the same for programs: `GET/POST /api/tokens`, `DELETE /api/tokens/:id`.
 */
export function registerAuthRoutes(app: FastifyInstance, deps: AuthRoutesDeps): void {
  const { config, layer, codec, tokens } = deps;
  const slack = config.auth.slack ? new SlackSignIn(config.auth.slack) : null;
  const github = config.auth.github ? new GithubSignIn(config.auth.github, deps.fetchFn) : null;
  const base = () => (config.http.publicUrl ?? '').replace(/\/+$/, '');
  const redirectUri = (provider: string) => `${base()}/auth/${provider}/callback`;

  // Redis-free, like the static console it guards: a signed-out visitor is sent here even while Redis is down.
  app.get('/auth/login', { config: { ...redisFree, auth: 'open' } }, async (req, reply) => {
    const next = safeNext((req.query as Record<string, unknown>).next);
    const q = `?next=${encodeURIComponent(next)}`;
    const buttons = [
      slack ? `<p><a class="btn" id="sign-in-slack" href="/auth/slack${q}">Sign in with Slack</a></p>` : '',
      github ? `<p><a class="btn" id="sign-in-github" href="/auth/github${q}">Sign in with GitHub</a></p>` : '',
    ].join('');
    const body = buttons || '<p>No sign-in provider is configured (see docs/auth.md). Programs use an API token.</p>';
    return page(reply, 'Sign in', `<h2>Sign in to Bosun</h2>${body}`);
  });

  for (const [provider, flow] of [
    ['slack', slack],
    ['github', github],
  ] as const) {
    if (!flow) continue;
    app.get(`/auth/${provider}`, { config: { auth: 'open' } }, async (req, reply) => {
      const next = safeNext((req.query as Record<string, unknown>).next);
      const { url, pending } = await flow.start(redirectUri(provider), next);
      reply.header('set-cookie', serializeCookie(loginCookie, codec.sign('login', pending), { maxAgeSec: 600, secure: layer.secure(), path: '/auth/' }));
      return reply.redirect(url.href, 302);
    });
    app.get(`/auth/${provider}/callback`, { config: { auth: 'open' } }, async (req, reply) => {
      const pending = PendingLoginSchema.safeParse(codec.verify('login', parseCookies(req.headers.cookie)[loginCookie]));
      reply.header('set-cookie', serializeCookie(loginCookie, '', { maxAgeSec: 0, secure: layer.secure(), path: '/auth/' }));
      if (!pending.success || pending.data.provider !== provider || pending.data.exp < Date.now()) {
        return page(
          reply.code(400),
          'Sign-in failed',
          '<h2>Sign-in failed</h2><p>The sign-in took too long or was started elsewhere. <a href="/auth/login">Start again</a>.</p>',
        );
      }
      const callbackUrl = new URL(req.url, `${base()}/`);
      let actor;
      try {
        actor =
          provider === 'slack'
            ? await (flow as SlackSignIn).finish(callbackUrl, pending.data as PendingLogin)
            : await (flow as GithubSignIn).finish(callbackUrl, pending.data as PendingLogin, redirectUri(provider));
      } catch (err) {
        deps.log.warn({ err, provider }, 'sign-in failed');
        const why = err instanceof CodedError ? err.message : 'the provider did not confirm who you are';
        return page(reply.code(400), 'Sign-in failed', `<h2>Sign-in failed</h2><p>${esc(why)}. <a href="/auth/login">Start again</a>.</p>`);
      }
      if (!layer.maySignIn(actor.id)) {
        deps.log.info({ actor: actor.id }, 'sign-in refused: not in auth.allow');
        await deps.audit({ action: 'auth.sign_in', actorId: actor.id, source: provider, outcome: 'denied', detail: 'not in auth.allow' });
        return page(
          reply.code(403),
          'Not allowed',
          `<h2>Not allowed</h2><p>${esc(actor.name)} (<code>${esc(actor.id)}</code>) may not sign in to this Bosun. An administrator can add this id to <code>auth.allow</code>.</p>`,
        );
      }
      layer.signIn(reply, actor);
      await deps.audit({ action: 'auth.sign_in', actorId: actor.id, source: provider, outcome: 'ok' });
      deps.log.info({ actor: actor.id, provider }, 'signed in');
      return reply.redirect(pending.data.next, 302);
    });
  }

  app.post('/auth/logout', { config: { auth: 'self' } }, async (req, reply) => {
    if (req.principal?.via === 'session') await deps.audit({ action: 'auth.sign_out', actorId: req.principal.actor.id, source: 'web', outcome: 'ok' });
    await layer.signOut(req, reply);
    return reply.redirect('/auth/login', 303);
  });

  app.get('/auth/me', { config: { auth: 'self' } }, async (req, reply) => {
    const p = req.principal;
    if (!p) return reply.code(401).send({ error: 'unauthorized', message: 'not signed in' });
    return { actor: p.actor, via: p.via, scopes: [...p.scopes], ...(p.csrf ? { csrfToken: p.csrf } : {}) };
  });

  // The token page, for people (a session).
  app.get('/auth/tokens', { config: { auth: 'signed-in' } }, async (req, reply) => tokensPage(req, reply, null));
  app.post('/auth/tokens', { config: { auth: 'signed-in' } }, async (req, reply) => {
    const p = requireSession(req);
    const body = TokenBody.safeParse(req.body);
    if (!body.success) return tokensPage(req, reply.code(400), { error: body.error.issues[0]?.message ?? 'invalid' });
    const created = await tokens.create(p.actor, body.data.name, body.data.scopes);
    await deps.audit({
      action: 'auth.token_create',
      actorId: p.actor.id,
      source: 'web',
      outcome: 'ok',
      detail: `${created.info.id} ${created.info.scopes.join(',')}`,
    });
    return tokensPage(req, reply.code(201), { token: created.token, name: created.info.name });
  });
  app.post('/auth/tokens/:id/revoke', { config: { auth: 'signed-in' } }, async (req, reply) => {
    const p = requireSession(req);
    const { id } = parseOr400(TokenId, req.params);
    if (await tokens.revoke(p.actor.id, id)) await deps.audit({ action: 'auth.token_revoke', actorId: p.actor.id, source: 'web', outcome: 'ok', detail: id });
    return reply.redirect('/auth/tokens', 303);
  });

  async function tokensPage(req: FastifyRequest, reply: FastifyReply, note: { token: string; name: string } | { error: string } | null): Promise<FastifyReply> {
    const p = requireSession(req);
    const list = await tokens.list(p.actor.id);
    const csrf = layer.csrfField(req);
    const notice = !note
      ? ''
      : 'error' in note
        ? `<p class="error">${esc(note.error)}</p>`
        : `<p>New token <b>${esc(note.name)}</b> — copy it now, it is not shown again:</p><pre id="new-token">${esc(note.token)}</pre>`;
    const rows = list
      .map(
        (t) =>
          `<tr><td>${esc(t.name)}</td><td><code>${t.id}</code></td><td>${t.scopes.join(', ')}</td><td>${esc(t.createdAt)}</td>` +
          `<td><form method="post" action="/auth/tokens/${t.id}/revoke">${csrf}<button>Revoke</button></form></td></tr>`,
      )
      .join('');
    const body =
      `<h2>API tokens of ${esc(p.actor.name)} <small><code>${esc(p.actor.id)}</code></small></h2>${notice}` +
      `<table><tr><th>name</th><th>id</th><th>scopes</th><th>created</th><th></th></tr>${rows || '<tr><td colspan="5">none yet</td></tr>'}</table>` +
      `<h3>New token</h3><form method="post" action="/auth/tokens" id="new-token-form">${csrf}<input name="name" placeholder="name (e.g. laptop CLI)" required> ` +
      Scope.options.map((s) => `<label><input type="checkbox" name="scopes" value="${s}"${s === 'read' ? ' checked' : ''}> ${s}</label>`).join(' ') +
      ' <button>Create</button></form>' +
      `<form method="post" action="/auth/logout">${csrf}<p><button id="sign-out">Sign out</button></p></form>`;
    return page(reply, 'API tokens', body);
  }

  // The same for programs.
  app.get('/api/tokens', async (req) => {
    const p = layer.requireScope(req, 'read');
    return { tokens: await tokens.list(p.actor.id) };
  });
  app.post('/api/tokens', async (req, reply) => {
    const p = req.principal;
    if (!p) throw new HttpError(401, 'unauthorized', 'sign in or use an API token (Authorization: Bearer …)');
    const body = parseOr400(TokenBody, req.body);
    const beyond = body.scopes.filter((s) => !p.scopes.has(s));
    if (beyond.length > 0) throw new HttpError(403, 'forbidden', `a token cannot have more than its creator: ${beyond.join(', ')}`);
    const created = await tokens.create(p.actor, body.name, body.scopes);
    await deps.audit({
      action: 'auth.token_create',
      actorId: p.actor.id,
      source: 'api',
      outcome: 'ok',
      detail: `${created.info.id} ${created.info.scopes.join(',')}`,
    });
    return reply.code(201).send({ token: created.token, ...created.info });
  });
  app.delete('/api/tokens/:id', async (req) => {
    const p = req.principal;
    if (!p) throw new HttpError(401, 'unauthorized', 'sign in or use an API token (Authorization: Bearer …)');
    const { id } = parseOr400(TokenId, req.params);
    if (!(await tokens.revoke(p.actor.id, id))) throw new HttpError(404, 'not_found', `no token ${id} of yours`);
    await deps.audit({ action: 'auth.token_revoke', actorId: p.actor.id, source: 'api', outcome: 'ok', detail: id });
    return { revoked: id };
  });
}

function requireSession(req: FastifyRequest): Principal {
  if (req.principal?.via !== 'session') throw new HttpError(401, 'unauthorized', 'sign in first');
  return req.principal;
}

function parseOr400<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new HttpError(400, 'bad_request', `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
}

/** Only a path on this server: never `//host` or an absolute URL (no open redirect). */
export function safeNext(next: unknown): string {
  return typeof next === 'string' && /^\/(?![/\\])/.test(next) ? next : '/';
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

function page(reply: FastifyReply, title: string, body: string): FastifyReply {
  return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)} · Bosun</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}header{background:#17324d;color:#fff;padding:10px 20px;font-weight:600}
header a{color:#fff;text-decoration:none}main{padding:16px 20px}table{border-collapse:collapse;background:#fff}td,th{padding:6px 10px;border-bottom:1px solid #e3e6eb;text-align:left}
a.btn{display:inline-block;padding:8px 14px;background:#17324d;color:#fff;border-radius:4px;text-decoration:none}.error{color:#cf222e}pre{background:#fff;padding:8px;border:1px solid #e3e6eb}</style>
</head><body><header><a href="/">⚓ Bosun</a></header><main>${body}</main></body></html>`);
}

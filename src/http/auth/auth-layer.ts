import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { ServerConfig } from '../../config.js';
import type { Logger } from '../../logger.js';
import { makeTokenAuth } from '../api-auth.js';
import { HttpError } from '../api-routes.js';
import type { Scope } from './auth-config.js';
import { allScopes } from './auth-config.js';
import type { ApiTokenStore } from './api-token-store.js';
import { parseCookies, serializeCookie } from './cookies.js';
import type { Principal } from './principal.js';
import { newSession, readSession, type SessionPayload, type SignedCodec } from './session-codec.js';

export const sessionCookie = 'bosun_session';

/** What the auth layer needs from the server. */
export interface AuthLayerDeps {
  config: ServerConfig;
  redis: Redis;
  prefix: string;
  codec: SignedCodec;
  tokens: ApiTokenStore;
  /** The repository of build `id`, or null when there is no such build. */
  buildRepo(id: string): Promise<string | null>;
  log: Logger;
}

/** The auth layer as routes use it (`req.principal` carries the caller). */
export interface AuthLayer {
  /** The caller's actor if they hold `scope`; throws 401 (nobody) or 403 (lacks the scope). */
  requireScope(req: FastifyRequest, scope: Scope): Principal;
  /** True when the caller may read `repo` (read scope, or the repository is public). */
  canReadRepo(req: FastifyRequest, repo: string): boolean;
  /** Repositories marked `public: true`. */
  publicRepos(): string[];
  /** The hidden form field every state-changing form carries (empty when not signed in). */
  csrfField(req: FastifyRequest): string;
  /** Starts a session for `actor` (after sign-in): sets the cookie. */
  signIn(reply: FastifyReply, actor: { id: string; name: string }): SessionPayload;
  /** Ends the caller's session (revoked until it would have expired) and clears the cookie. */
  signOut(req: FastifyRequest, reply: FastifyReply): Promise<void>;
  /** May this actor sign in at all (`auth.allow`)? */
  maySignIn(actorId: string): boolean;
  /** https → cookies are Secure. */
  secure(): boolean;
}

const unsafeMethods = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const buildRoute = /^\/(api\/)?builds\/:id(\/|$)/;
/** Policies of routes registered elsewhere without `config.auth` (health, metrics, badges, the console's list). */
const builtinPolicies: Record<string, NonNullable<FastifyRequest['routeOptions']['config']['auth']>> = {
  '/healthz': 'open',
  '/readyz': 'open',
  '/metrics': 'open',
  '/badge/*': 'self',
  '/': 'list',
  '/api/builds': 'list',
};

/**
 * The auth layer, a fastify hook pair registered before every route:
 *
 * - onRequest decides who the caller is — a bearer token (the server config's `apiTokens`, or a
 *   user's token from `ApiTokenStore`) or else the signed session cookie — and sets
 *   `req.principal`. For reads (GET/HEAD) it then applies the route's policy (`config.auth`,
 *   see principal.ts): closed unless the route says otherwise, so a page or API read added
 *   later is private by default. A signed-out browser asking for a page is sent to sign in;
 *   anything else gets 401 (403 for a token without `read`).
 * - preHandler refuses (403) any state-changing request (POST/PUT/PATCH/DELETE) made with the
 *   session cookie that does not carry the session's CSRF token, as the `_csrf` form field or
 *   the `x-csrf-token` header. Bearer-token requests need none: browsers never add them.
 *
 * Writes are authorised by the routes themselves with `requireScope` (build, approve).
 */
export function registerAuthLayer(app: FastifyInstance, deps: AuthLayerDeps): AuthLayer {
  const { config } = deps;
  const configTokens = makeTokenAuth(config.apiTokens);
  const configScopes: ReadonlySet<Scope> = new Set(config.auth.configTokenScopes);
  const sessionScopes: ReadonlySet<Scope> = new Set(allScopes);
  const revokedKey = (sid: string) => `${deps.prefix}:auth:revoked:${sid}`;
  const secure = () => (config.http.publicUrl ?? '').startsWith('https:');
  const publicRepos = () =>
    Object.entries(config.repos)
      .filter(([, r]) => r.public)
      .map(([name]) => name);

  async function resolve(req: FastifyRequest): Promise<Principal | null> {
    const header = req.headers.authorization;
    if (header !== undefined) {
      const byConfig = configTokens(header);
      if (byConfig) return { actor: byConfig, via: 'config-token', scopes: configScopes };
      const m = /^Bearer\s+(\S+)$/i.exec(header);
      const stored = m?.[1] ? await deps.tokens.lookup(m[1]) : null;
      if (stored) return { actor: { id: stored.owner, name: stored.ownerName }, via: 'token', scopes: new Set(stored.scopes) };
      return null;
    }
    const session = readSession(deps.codec, parseCookies(req.headers.cookie)[sessionCookie]);
    if (!session) return null;
    try {
      if (await deps.redis.exists(revokedKey(session.sid))) return null;
    } catch (err) {
      // Redis is down: only Redis-free routes (static pages) get here; they hold no data.
      deps.log.warn({ err }, 'session revocation check skipped: Redis unavailable');
    }
    if (!layer.maySignIn(session.sub)) return null;
    return {
      actor: { id: session.sub, name: session.name },
      via: 'session',
      scopes: sessionScopes,
      csrf: session.csrf,
      session: { sid: session.sid, exp: session.exp },
    };
  }

  app.decorateRequest('principal', null);

  app.addHook('onRequest', async (req, reply) => {
    const url = req.routeOptions.url;
    if (url === undefined) return;
    const policy = req.routeOptions.config?.auth ?? builtinPolicies[url];
    if (policy === 'open') return;
    req.principal = await resolve(req);
    if (policy === 'self' || (req.method !== 'GET' && req.method !== 'HEAD')) return;
    const p = req.principal;
    const canRead = p?.scopes.has('read') ?? false;
    if (policy === 'signed-in') {
      if (p?.via !== 'session') return deny(req, reply, 401, 'sign in first');
      return;
    }
    if (canRead) return;
    const effective = policy ?? (buildRoute.test(url) ? 'build' : undefined);
    if (effective === 'list' && !p && publicRepos().length > 0) return;
    if (effective === 'build' && !p) {
      const id = (req.params as { id?: string }).id;
      const repo = id && /^\d{1,12}$/.test(id) ? await deps.buildRepo(id).catch(() => undefined) : null;
      if (repo === null || (repo !== undefined && config.repos[repo]?.public)) return; // unknown builds: the route answers 404
    }
    if (p) return deny(req, reply, 403, 'this token lacks the read scope');
    return deny(req, reply, 401, 'sign in or use an API token (Authorization: Bearer …)');
  });

  app.addHook('preHandler', async (req, reply) => {
    if (!unsafeMethods.has(req.method) || req.principal?.via !== 'session') return;
    const body = req.body as Record<string, unknown> | null | undefined;
    const given =
      (typeof body === 'object' && body !== null && typeof body._csrf === 'string' ? body._csrf : undefined) ??
      (req.headers['x-csrf-token'] as string | undefined);
    if (!given || !sameSecret(given, req.principal.csrf ?? '')) {
      await reply.code(403).send({ error: 'csrf', message: 'missing or wrong CSRF token; reload the page and try again' });
    }
  });

  // Forms post urlencoded; parse them into an object (unless another part of Bosun already does).
  if (!app.hasContentTypeParser('application/x-www-form-urlencoded')) {
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });
  }

  const layer: AuthLayer = {
    requireScope(req, scope) {
      const p = req.principal;
      if (!p) throw new HttpError(401, 'unauthorized', 'sign in or use an API token (Authorization: Bearer …)');
      if (!p.scopes.has(scope)) throw new HttpError(403, 'forbidden', `this token lacks the ${scope} scope`);
      return p;
    },
    canReadRepo(req, repo) {
      return (req.principal?.scopes.has('read') ?? false) || config.repos[repo]?.public === true;
    },
    publicRepos,
    csrfField(req) {
      const token = req.principal?.csrf;
      return token ? `<input type="hidden" name="_csrf" value="${token}">` : '';
    },
    signIn(reply, actor) {
      const session = newSession(actor, config.auth.sessionTtlSec);
      void reply.header(
        'set-cookie',
        serializeCookie(sessionCookie, deps.codec.sign('session', session), { maxAgeSec: config.auth.sessionTtlSec, secure: secure() }),
      );
      return session;
    },
    async signOut(req, reply) {
      const s = req.principal?.session;
      if (s) {
        const ttl = s.exp - Math.floor(Date.now() / 1000);
        if (ttl > 0) await deps.redis.set(revokedKey(s.sid), '1', 'EX', ttl);
      }
      void reply.header('set-cookie', serializeCookie(sessionCookie, '', { maxAgeSec: 0, secure: secure() }));
    },
    maySignIn(actorId) {
      return config.auth.allow.some((rule) => {
        if (rule.startsWith('group:')) return config.groups[rule.slice('group:'.length)]?.includes(actorId) ?? false;
        if (rule.endsWith('/*')) return actorId.startsWith(rule.slice(0, -1));
        return rule === actorId;
      });
    },
    secure,
  };
  app.decorate('bosunAuth', layer);
  return layer;
}

function deny(req: FastifyRequest, reply: FastifyReply, status: 401 | 403, message: string): FastifyReply {
  const page = !req.url.startsWith('/api/') && (req.headers.accept ?? '').includes('text/html');
  if (status === 401 && page) return reply.redirect(`/auth/login?next=${encodeURIComponent(req.url)}`, 302);
  return reply.code(status).send({ error: status === 401 ? 'unauthorized' : 'forbidden', message });
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

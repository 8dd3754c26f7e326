import type { FastifyRequest } from 'fastify';
import type { Actor } from '../../domain/build.js';
import type { Scope } from './auth-config.js';
import type { AuthLayer } from './auth-layer.js';

/** Who is calling and what they may do, as decided by the auth layer for each request. */
export interface Principal {
  actor: Actor;
  /** `session`: the browser cookie; `token`: a user's API token; `config-token`: one of the server config's `apiTokens`. */
  via: 'session' | 'token' | 'config-token';
  scopes: ReadonlySet<Scope>;
  /** Session principals only: the CSRF token state-changing requests must carry. */
  csrf?: string;
  /** Session principals only: the session id and expiry (for sign-out). */
  session?: { sid: string; exp: number };
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The auth layer, for routes registered by any part of Bosun (`req.server.bosunAuth`). */
    bosunAuth: AuthLayer;
  }
  interface FastifyRequest {
    /** Set by the auth layer's onRequest hook; null = signed out, no (valid) token. */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /**
     * How reads of this route are authorised (GET/HEAD; see auth-layer.ts): `open` (no
     * check), `build` (the `:id` build's repository is public, or the caller may read),
     * `list` (the route filters what it returns itself; needs read or a public repository),
     * `signed-in` (a session, e.g. token management), `self` (the caller is resolved, the
     * route decides), or unset: the caller needs `read`.
     */
    auth?: 'open' | 'build' | 'list' | 'signed-in' | 'self';
  }
}

export function principalCan(req: FastifyRequest, scope: Scope): boolean {
  return req.principal?.scopes.has(scope) ?? false;
}

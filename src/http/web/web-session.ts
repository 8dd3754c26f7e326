import type { FastifyRequest } from 'fastify';
import type { Actor } from '../../domain/build.js';
import { HttpError } from '../api-routes.js';
import '../auth/principal.js';

/**
 * Who is using the web console, as the sign-in layer knows it. THE one hook between the
 * console and sign-in: pages read `actor` (null = signed out) to show or hide the
 * approve/reject and release/renew forms, and every state-changing POST runs
 * `verifyCsrf` before anything else (see `web-actions.ts`). `csrfToken` goes into each form
 * as the hidden `_csrf` field.
 *
 * The server uses `sessionFromAuth` (the sign-in layer); `signedOut` is a console where nobody
 * is signed in: read-only, every POST answers 401.
 */
export interface WebSession {
  actor(req: FastifyRequest): Actor | null | Promise<Actor | null>;
  /** The token a form must echo in `_csrf`, for this request's session. */
  csrfToken(req: FastifyRequest): string | Promise<string>;
  /** Throws (an HttpError 403) when a state-changing request is not the session's own. */
  verifyCsrf(req: FastifyRequest, formToken: string | undefined): void | Promise<void>;
}

export const signedOut: WebSession = {
  actor: () => null,
  csrfToken: () => '',
  verifyCsrf: () => undefined,
};

/**
 * The console's session from the sign-in layer (src/http/auth): the browser's signed-in person
 * (a session cookie; API tokens do not drive forms), its CSRF token, and a second check of the
 * token the auth layer's preHandler already enforced for every cookie-authenticated write.
 */
export function sessionFromAuth(): WebSession {
  const sessionOf = (req: FastifyRequest) => (req.principal?.via === 'session' ? req.principal : null);
  return {
    actor: (req) => sessionOf(req)?.actor ?? null,
    csrfToken: (req) => sessionOf(req)?.csrf ?? '',
    verifyCsrf(req, formToken) {
      const p = sessionOf(req);
      if (p && (!formToken || formToken !== p.csrf)) throw new HttpError(403, 'csrf', 'missing or wrong CSRF token; reload the page and try again');
    },
  };
}

import type { FastifyRequest } from 'fastify';
import type { Actor } from '../../domain/build.js';

/**
 * Who is using the web console, as the sign-in layer knows it. THE one hook between the
 * console and sign-in: pages read `actor` (null = signed out) to show or hide the
 * approve/reject and release/renew forms, and every state-changing POST runs
 * `verifyCsrf` before anything else (see `web-actions.ts`). `csrfToken` goes into each form
 * as the hidden `_csrf` field.
 *
 * Without a sign-in layer configured (`signedOut`), nobody is signed in: the console is
 * read-only and every POST answers 401.
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

import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Actor } from '../domain/build.js';
import type { AuditLog } from '../storage/audit-log.js';
import { HttpError } from './api-routes.js';

const Query = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) });

/**
 * `GET /api/audit?limit=N`: the audit trail (R10), oldest first, for holders of an API token
 * (the server's administrators: a token can already start, cancel and retry any build).
 */
export function registerAuditRoute(app: FastifyInstance, deps: { audit: AuditLog; auth(header: string | undefined): Actor | null }): void {
  app.get('/api/audit', async (req) => {
    if (!deps.auth(req.headers.authorization)) throw new HttpError(401, 'unauthorized', 'a valid API token is required (Authorization: Bearer …)');
    const q = Query.safeParse(req.query);
    if (!q.success) throw new HttpError(400, 'bad_request', 'limit: expected 1 to 1000');
    return { entries: await deps.audit.list(q.data.limit) };
  });
}

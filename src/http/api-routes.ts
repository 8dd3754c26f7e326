import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { BuildService, CommandContext } from '../../commands/command.js';
import { dispatch } from '../../commands/dispatch.js';
import type { Actor } from '../domain/build.js';
import { isTerminal } from '../domain/status.js';
import { CodedError, UserError } from '../errors.js';
import type { Core } from '../app/open-core.js';
import { openSse } from './sse.js';
import { commandServices } from '../app/command-services.js';
import { redisUnavailableCode, redisUnavailableMessage } from './redis-gate.js';
import { sendRawLog } from './raw-log.js';
import type { AuthLayer } from './auth/auth-layer.js';
import { scopeForCommand } from './auth/command-scope.js';

const CommandBody = z.strictObject({ text: z.string().min(1).max(2000) });
const CreateBody = z.strictObject({ repo: z.string().min(1).max(200), ref: z.string().min(1).max(250).optional() });
const RetryBody = z.strictObject({ fromFailed: z.boolean().default(false) }).prefault({});
const IdParams = z.object({ id: z.string().regex(/^\d{1,12}$/) });
const LogParams = IdParams.extend({ stage: z.string().min(1).max(100), step: z.string().min(1).max(100) });

/**
 * The HTTP API. Who may do what is the auth layer's (src/http/auth): reads need the `read`
 * scope (a session or a token) unless the build's repository is public; starting, cancelling
 * and retrying builds need `build`; commands need the scope of the command
 * (`scopeForCommand`). Everything goes through the same commands and verbs as chat and the CLI.
 */
export function registerApiRoutes(app: FastifyInstance, core: Core, builds: BuildService, auth: AuthLayer): void {
  const services = commandServices(core);
  const ctxFor = (actor: Actor): CommandContext => ({ actor, source: 'api', builds, ...services });
  const requireActor = (req: FastifyRequest, scope: 'build' | 'approve' | 'read' = 'build'): Actor => auth.requireScope(req, scope).actor;

  app.post('/api/commands', async (req) => {
    const body = parse(CommandBody, req.body);
    const actor = requireActor(req, scopeForCommand(body.text));
    return dispatch(body.text, ctxFor(actor));
  });

  app.post('/api/builds', async (req, reply) => {
    const actor = requireActor(req);
    const body = parse(CreateBody, req.body);
    const build = await builds.create({ repo: body.repo, ref: body.ref ?? null }, ctxFor(actor));
    return reply.code(201).send({ build, url: builds.buildUrl(build.id) });
  });

  app.get('/api/builds', async (req) => {
    const q = parse(z.object({ repo: z.string().optional(), limit: z.coerce.number().int().min(1).max(200).optional() }), req.query);
    const limit = q.limit ?? 20;
    if (q.repo && !auth.canReadRepo(req, q.repo))
      throw new HttpError(req.principal ? 403 : 401, req.principal ? 'forbidden' : 'unauthorized', 'sign in or use an API token with the read scope');
    if (q.repo || req.principal?.scopes.has('read')) return { builds: await builds.list({ ...(q.repo ? { repo: q.repo } : {}), limit }) };
    // Signed out: the public repositories' builds only.
    const lists = await Promise.all(auth.publicRepos().map((repo) => builds.list({ repo, limit })));
    return {
      builds: lists
        .flat()
        .sort((a, b) => Number(b.id) - Number(a.id))
        .slice(0, limit),
    };
  });

  app.get('/api/builds/:id', async (req) => {
    const { id } = parse(IdParams, req.params);
    const build = await builds.get(id);
    if (!build) throw new HttpError(404, 'unknown_build', `no build #${id}`);
    return { build };
  });

  app.post('/api/builds/:id/cancel', async (req) => {
    const actor = requireActor(req);
    const { id } = parse(IdParams, req.params);
    return { build: await builds.cancel(id, ctxFor(actor)) };
  });

  app.post('/api/builds/:id/retry', async (req) => {
    const actor = requireActor(req);
    const { id } = parse(IdParams, req.params);
    const body = parse(RetryBody, req.body ?? {});
    return { build: await builds.retry(id, body.fromFailed, ctxFor(actor)) };
  });

  app.get('/api/builds/:id/logs/:stage/:step', async (req, reply) => {
    const p = parse(LogParams, req.params);
    const query = req.query as Record<string, unknown>;
    if (query.follow === '1' || query.follow === 'true') return followLog(core, req, reply, p);
    return sendRawLog(core.logs, reply, p, query.download === '1');
  });

  app.get('/api/builds/:id/events', async (req, reply) => {
    const { id } = parse(IdParams, req.params);
    const build = await builds.get(id);
    if (!build) throw new HttpError(404, 'unknown_build', `no build #${id}`);
    const sse = openSse(req, reply);
    sse.send('build', build);
    if (isTerminal(build.status)) return sse.end();
    for await (const event of core.bus.tail(await core.bus.lastId(), sse.signal)) {
      if (!('buildId' in event) || event.buildId !== id) continue;
      sse.send(event.type, event, event.id);
      if (event.type === 'build.status' && isTerminal(event.status)) break;
    }
    sse.end();
  });

  app.setErrorHandler((err, _req, reply) => {
    // A command cut off by Redis going away: the same answer the gate gives.
    if (!core.redisHealth.up) {
      const retryAfterSec = core.redisHealth.retryAfterSec;
      return reply
        .code(503)
        .header('retry-after', String(retryAfterSec))
        .send({ error: redisUnavailableCode, message: redisUnavailableMessage(retryAfterSec), retryAfterSec });
    }
    if (err instanceof HttpError) return reply.code(err.status).send({ error: err.code, message: err.message });
    if (err instanceof CodedError && !err.retryable) {
      const status =
        err.code === 'unknown_build' || err.code === 'not_found'
          ? 404
          : err.code === 'rate_limited'
            ? 429
            : err.code === 'forbidden'
              ? 403
              : err.code === 'invalid_transition' || err.code === 'conflict'
                ? 409
                : 400;
      return reply.code(status).send({ error: err.code, message: err.message });
    }
    const e = err as { statusCode?: number; code?: string; message?: string };
    if (e.statusCode && e.statusCode < 500) return reply.code(e.statusCode).send({ error: e.code ?? 'bad_request', message: e.message });
    core.log.error({ err }, 'API request failed');
    return reply.code(500).send({ error: 'internal', message: 'internal error' });
  });
}

async function followLog(core: Core, req: FastifyRequest, reply: FastifyReply, p: { id: string; stage: string; step: string }): Promise<void> {
  const sse = openSse(req, reply);
  // Resume after the last line seen: EventSource's Last-Event-ID, else `?after=` (what a page already loaded).
  const after = Number((req.headers['last-event-id'] as string | undefined) || (req.query as Record<string, unknown>).after || 0) || 0;
  for await (const line of core.logs.follow(p.id, p.stage, p.step, sse.signal, after)) sse.send('line', line, String(line.n));
  sse.send('end', {});
  sse.end();
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new UserError('bad_request', `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
}

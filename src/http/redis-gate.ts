import type { FastifyInstance, FastifyReply } from 'fastify';

/** What the gate needs to know about Redis (`RedisHealth` provides it). */
export interface RedisGateHealth {
  readonly up: boolean;
  readonly retryAfterSec: number;
  onChange(fn: (up: boolean) => void): () => void;
}

/** Routes that answer without Redis opt out of the gate with `config: redisFree`. */
export const redisFree = { redisFree: true } as const;

export const redisUnavailableCode = 'redis_unavailable';

export function redisUnavailableMessage(retryAfterSec: number): string {
  return `Bosun's Redis is unreachable, retry in ${retryAfterSec} s`;
}

/**
 * The one place every front end (API, GitHub webhooks, Slack HTTP mode, the CLI through the
 * API) learns that Redis is gone: while it is unreachable a request is answered at once with
 * 503 and `Retry-After` instead of waiting on a command that cannot run, so nothing is
 * acknowledged that was not stored (GitHub can redeliver, Slack retries). A request already
 * waiting when Redis goes away gets the same 503 at that moment; an open event stream gets an
 * `error` event and ends. Must be registered before the routes (hooks are inherited by the
 * scopes registered after).
 */
export function registerRedisGate(app: FastifyInstance, health: RedisGateHealth): void {
  app.addHook('onRequest', async (req, reply) => {
    if ((req.routeOptions.config as { redisFree?: boolean } | undefined)?.redisFree) return;
    if (!health.up) {
      await refuse(reply, health.retryAfterSec);
      return;
    }
    const off = health.onChange((up) => {
      if (up) return;
      off();
      if (!reply.sent) void refuse(reply, health.retryAfterSec);
      else if (reply.raw.headersSent && !reply.raw.writableEnded) endStream(reply, health.retryAfterSec);
    });
    reply.raw.once('close', off);
  });
}

async function refuse(reply: FastifyReply, retryAfterSec: number): Promise<void> {
  await reply
    .code(503)
    .header('retry-after', String(retryAfterSec))
    .send({ error: redisUnavailableCode, message: redisUnavailableMessage(retryAfterSec), retryAfterSec });
}

/** An SSE stream (hijacked reply) cannot change its status: tell the client and end it. */
function endStream(reply: FastifyReply, retryAfterSec: number): void {
  const data = JSON.stringify({ error: redisUnavailableCode, message: redisUnavailableMessage(retryAfterSec), retryAfterSec });
  reply.raw.end(`event: error\ndata: ${data}\n\n`);
}

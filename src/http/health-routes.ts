import type { FastifyInstance } from 'fastify';
import { redisFree } from './redis-gate.js';

export interface CheckResult {
  ok: boolean;
  /** What was found, for people: "PONG in 1 ms", "socket closed". */
  detail?: string;
}

/** One thing Bosun needs to do its job (Redis, the executor's engine, a chat connection). */
export interface ReadinessCheck {
  name: string;
  check(): Promise<CheckResult>;
}

/** A check that has not answered within this is reported as failing. */
const checkTimeoutMs = 2000;

/**
 * `/healthz` is liveness: it answers from the process alone (never Redis), so an orchestrator
 * restarts Bosun only when the process is stuck, not when Redis is. `/readyz` is readiness:
 * every check runs now, each bounded by `checkTimeoutMs`; 200 with the breakdown when all
 * pass, 503 with the breakdown when any fails.
 */
export function registerHealthRoutes(app: FastifyInstance, checks: ReadinessCheck[]): void {
  const startedAt = Date.now();
  app.get('/healthz', { config: redisFree }, async () => ({ ok: true, uptimeSec: Math.round((Date.now() - startedAt) / 1000) }));
  app.get('/readyz', { config: redisFree }, async (_req, reply) => {
    const results = await Promise.all(checks.map(async (c) => [c.name, await runCheck(c)] as const));
    const ready = results.every(([, r]) => r.ok);
    return reply.code(ready ? 200 : 503).send({ ready, checks: Object.fromEntries(results) });
  });
}

async function runCheck(c: ReadinessCheck): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, detail: `no answer within ${checkTimeoutMs} ms` }), checkTimeoutMs);
  });
  try {
    return await Promise.race([c.check().catch((err: unknown) => ({ ok: false, detail: err instanceof Error ? err.message : String(err) })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

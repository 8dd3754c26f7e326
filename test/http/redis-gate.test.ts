import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerRedisGate, redisFree, type RedisGateHealth } from '../../src/http/redis-gate.js';
import { registerHealthRoutes, type ReadinessCheck } from '../../src/http/health-routes.js';
import { openSse } from '../../src/http/sse.js';
import { FastifySlackReceiver } from '../../src/chat/slack/fastify-slack-receiver.js';
import { silentLogger } from '../../src/logger.js';
import { formBody, signSlack, slashCommand } from '../fakes/fake-slack-requests.js';

/** A Redis health whose state the test sets; records nothing else. */
class FakeHealth implements RedisGateHealth {
  up = true;
  readonly retryAfterSec = 7;
  private readonly listeners = new Set<(up: boolean) => void>();
  onChange(fn: (up: boolean) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
  set(up: boolean): void {
    this.up = up;
    for (const fn of [...this.listeners]) fn(up);
  }
}

const slackSecret = 'slack-signing-secret-0123';

async function app(health: FakeHealth, checks: ReadinessCheck[] = []): Promise<{ url: string; server: FastifyInstance; waiting: Set<() => void> }> {
  const server = Fastify({ logger: false });
  const waiting = new Set<() => void>();
  registerRedisGate(server, health);
  registerHealthRoutes(server, checks);
  server.get('/', { config: redisFree }, async () => 'console');
  server.get('/api/builds', async () => ({ builds: [] }));
  // A handler stuck on a Redis command until the test lets it go.
  server.get('/api/slow', async () => new Promise((resolve) => waiting.add(() => resolve({ late: true }))));
  server.get('/api/stream', (req, reply) => {
    const sse = openSse(req, reply);
    sse.send('line', { text: 'first' });
  });
  await new FastifySlackReceiver({ signingSecret: slackSecret, windowSec: 300, log: silentLogger(), firstSeen: async () => true }).plugin(server);
  const url = await server.listen({ host: '127.0.0.1', port: 0 });
  return { url, server, waiting };
}

const slackRequest = () => {
  const body = formBody(slashCommand('status', 'U1'));
  return { method: 'POST', headers: signSlack(slackSecret, body), body };
};

const whileDown: { name: string; path: string; init?: RequestInit; status: number }[] = [
  { name: 'the API answers 503', path: '/api/builds', status: 503 },
  { name: 'Slack HTTP mode (a front end in its own scope) answers 503', path: '/slack/commands', init: slackRequest(), status: 503 },
  { name: 'liveness still answers 200', path: '/healthz', status: 200 },
  { name: 'the static console still answers 200', path: '/', status: 200 },
];

test('while Redis is unreachable', async (t) => {
  const health = new FakeHealth();
  const a = await app(health);
  health.set(false);
  try {
    for (const c of whileDown) {
      await t.test(c.name, async () => {
        const res = await fetch(`${a.url}${c.path}`, { ...c.init, signal: AbortSignal.timeout(5000) });
        assert.equal(res.status, c.status);
        if (c.status !== 503) return;
        assert.equal(res.headers.get('retry-after'), '7');
        assert.deepEqual(await res.json(), { error: 'redis_unavailable', message: "Bosun's Redis is unreachable, retry in 7 s", retryAfterSec: 7 });
      });
    }
  } finally {
    await a.server.close();
  }
});

test('a request waiting on Redis when it goes away is answered 503 at that moment, not when the command gives up', async () => {
  const health = new FakeHealth();
  const a = await app(health);
  try {
    const pending = fetch(`${a.url}/api/slow`, { signal: AbortSignal.timeout(5000) });
    while (a.waiting.size === 0) await new Promise((r) => setTimeout(r, 10));
    health.set(false);
    const res = await pending;
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '7');
    for (const release of a.waiting) release(); // the command finishing late changes nothing
  } finally {
    await a.server.close();
  }
});

test('an open event stream gets an error event saying why and ends when Redis goes away', async () => {
  const health = new FakeHealth();
  const a = await app(health);
  try {
    const res = await fetch(`${a.url}/api/stream`, { signal: AbortSignal.timeout(5000) });
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    assert.match(first, /bosun/);
    health.set(false);
    let rest = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    assert.match(rest, /event: error\ndata: \{"error":"redis_unavailable","message":"Bosun's Redis is unreachable, retry in 7 s"/);
  } finally {
    await a.server.close();
  }
});

test('/readyz is 200 with the breakdown when every check passes, 503 with it when one fails or does not answer', async () => {
  const health = new FakeHealth();
  const verdicts: Record<string, ReadinessCheck['check']> = {
    redis: async () => ({ ok: true, detail: 'PONG in 1 ms' }),
    executor: async () => ({ ok: true, detail: 'engine answers' }),
  };
  const a = await app(
    health,
    Object.keys(verdicts).map((name) => ({ name, check: () => verdicts[name]!() })),
  );
  const readyz = async () => {
    const res = await fetch(`${a.url}/readyz`, { signal: AbortSignal.timeout(10_000) });
    return { status: res.status, json: (await res.json()) as { checks: Record<string, unknown> } };
  };
  try {
    assert.deepEqual(await readyz(), {
      status: 200,
      json: { ready: true, checks: { redis: { ok: true, detail: 'PONG in 1 ms' }, executor: { ok: true, detail: 'engine answers' } } },
    });

    verdicts.executor = async () => {
      throw new Error('connect ENOENT /var/run/docker.sock');
    };
    assert.deepEqual(await readyz(), {
      status: 503,
      json: { ready: false, checks: { redis: { ok: true, detail: 'PONG in 1 ms' }, executor: { ok: false, detail: 'connect ENOENT /var/run/docker.sock' } } },
    });

    verdicts.executor = () => new Promise(() => undefined); // an engine that never answers
    const hung = await readyz();
    assert.equal(hung.status, 503);
    assert.deepEqual(hung.json.checks.executor, { ok: false, detail: 'no answer within 2000 ms' });
  } finally {
    await a.server.close();
  }
});

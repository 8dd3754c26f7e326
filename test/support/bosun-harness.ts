import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type ServerConfigInput } from '../../src/config.js';
import { silentLogger, createLogger } from '../../src/logger.js';
import { startServer, type RunningServer } from '../../src/app/start-server.js';
import { LocalExecutor } from '../../src/executor/local/local-executor.js';
import type { Executor } from '../../src/executor/executor.js';
import type { Build } from '../../src/domain/build.js';
import { isTerminal } from '../../src/domain/status.js';
import type { HttpPlugin } from '../../src/http/http-server.js';
import type { FrontendFactory } from '../../src/app/frontend.js';
import type { WebSession } from '../../src/http/web/web-session.js';
import { startRedis, type TestRedis } from './redis-server.js';

export const testToken = 'test-token-0123456789abcdef';

/** A whole Bosun on a real Redis and the local executor, for end-to-end tests. */
export interface Harness {
  server: RunningServer;
  redis: TestRedis;
  dataDir: string;
  url: string;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }>;
  waitFor(id: string, pred: (b: Build) => boolean, timeoutMs?: number): Promise<Build>;
  waitDone(id: string, timeoutMs?: number): Promise<Build>;
  stop(): Promise<void>;
}

export async function startHarness(
  overrides: ServerConfigInput = {},
  opts: {
    executor?: (dataDir: string) => Executor;
    executorAsync?: (dataDir: string) => Promise<Executor>;
    plugins?: HttpPlugin[];
    frontends?: FrontendFactory[];
    webSession?: WebSession;
  } = {},
): Promise<Harness> {
  const redis = await startRedis();
  const dataDir = mkdtempSync(join(tmpdir(), 'bosun-test-'));
  const config = loadConfig(
    {},
    {
      dataDir,
      redisUrl: redis.url,
      http: { host: '127.0.0.1', port: 0 },
      apiTokens: [{ name: 'tester', token: testToken }],
      logLevel: 'silent',
      workers: 2,
      limits: { killGraceSec: 2 },
      ...overrides,
    },
  );
  const log = process.env.BOSUN_TEST_LOG ? createLogger(process.env.BOSUN_TEST_LOG) : silentLogger();
  const executor =
    (await opts.executorAsync?.(dataDir)) ??
    opts.executor?.(dataDir) ??
    new LocalExecutor({ instanceId: config.instanceId, dataDir, log, timeoutGraceMs: 2000 });
  const server = await startServer(config, log, {
    executor,
    plugins: opts.plugins ?? [],
    frontends: opts.frontends ?? [],
    ...(opts.webSession ? { webSession: opts.webSession } : {}),
  });
  const url = server.url;

  const api: Harness['api'] = async (method, path, body) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${testToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let json: unknown = text;
    try {
      json = JSON.parse(text);
    } catch {
      // plain text
    }
    return { status: res.status, json };
  };

  const waitFor: Harness['waitFor'] = async (id, pred, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    let last: Build | null = null;
    while (Date.now() < deadline) {
      last = await server.core.store.get(id);
      if (last && pred(last)) return last;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`build #${id} did not reach the expected state; last: ${JSON.stringify(last, null, 1)?.slice(0, 3000)}`);
  };

  return {
    server,
    redis,
    dataDir,
    url,
    api,
    waitFor,
    waitDone: (id, t) => waitFor(id, (b) => isTerminal(b.status) && b.stages.every((s) => isTerminal(s.status) || s.status === 'pending'), t),
    async stop() {
      await server.close();
      await executor.close();
      await redis.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig, type ServerConfig, type ServerConfigInput } from '../../src/config.js';
import { createLogger, silentLogger } from '../../src/logger.js';
import { startServer, type RunningServer } from '../../src/app/start-server.js';
import { LocalExecutor } from '../../src/executor/local/local-executor.js';
import type { Build } from '../../src/domain/build.js';
import { isTerminal } from '../../src/domain/status.js';
import { startRedis, type TestRedis } from '../support/redis-server.js';
import { testToken } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';

/** A whole Bosun (local executor, real Redis) that can be stopped and started again on the same Redis and data. */
export interface RestartableBosun {
  config: ServerConfig;
  server: RunningServer;
  redis: TestRedis;
  dataDir: string;
  url(): string;
  api(method: string, path: string, body?: unknown, token?: string | null): Promise<{ status: number; json: any; headers: Headers }>;
  waitDone(id: string, timeoutMs?: number): Promise<Build>;
  /** Stops the server (Redis stays up) and starts a new one with the same config. */
  restart(): Promise<void>;
  /** Adds a one-stage repository `name` whose steps just echo. */
  addEchoRepo(name: string, steps?: string[]): Promise<void>;
  stop(): Promise<void>;
}

/** `logLines`: when given, Bosun's log (level warn and up) is collected there. */
export async function startBosun(overrides: ServerConfigInput = {}, opts: { logLines?: string[] } = {}): Promise<RestartableBosun> {
  const redis = await startRedis();
  const dataDir = mkdtempSync(join(tmpdir(), 'bosun-integ-'));
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
  const lines = opts.logLines;
  const log = lines
    ? pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) })
    : process.env.BOSUN_TEST_LOG
      ? createLogger(process.env.BOSUN_TEST_LOG)
      : silentLogger();
  let executor = new LocalExecutor({ instanceId: config.instanceId, dataDir, log, timeoutGraceMs: 2000 });
  let server = await startServer(config, log, { executor });

  const self: RestartableBosun = {
    config,
    redis,
    dataDir,
    get server() {
      return server;
    },
    url: () => server.url,
    async api(method, path, body, token = testToken) {
      const res = await fetch(`${server.url}${path}`, {
        method,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      let json: unknown = text;
      try {
        json = JSON.parse(text);
      } catch {
        // plain text
      }
      return { status: res.status, json, headers: res.headers };
    },
    async waitDone(id, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const b = await server.core.store.get(id);
        if (b && isTerminal(b.status) && b.stages.every((s) => isTerminal(s.status) || s.status === 'pending')) return b;
        if (Date.now() > deadline) throw new Error(`build #${id} did not finish: ${JSON.stringify(b)?.slice(0, 2000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async restart() {
      await server.close();
      await executor.close();
      delete config.http.publicUrl;
      executor = new LocalExecutor({ instanceId: config.instanceId, dataDir, log, timeoutGraceMs: 2000 });
      server = await startServer(config, log, { executor });
    },
    async addEchoRepo(name, steps = ['one', 'two']) {
      const spec = [
        'version: 1',
        'image: any',
        'stages:',
        '  test:',
        '    steps:',
        ...steps.flatMap((s) => [`      - name: ${s}`, `        run: echo ${s}`]),
        '',
      ].join('\n');
      const repo = await makeRepo(dataDir, name, { 'bosun.yml': spec });
      config.repos[name] = { url: repo.url, defaultBranch: 'master', secrets: [] };
    },
    async stop() {
      await server.close();
      await executor.close();
      await redis.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return self;
}

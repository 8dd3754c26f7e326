import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { ServerConfig } from '../config.js';
import type { Logger } from '../logger.js';
import type { Executor } from '../executor/executor.js';
import { openCore, type Core } from './open-core.js';
import { makeBuildService } from './build-service.js';
import { seedDemoRepo } from './seed-demo-repo.js';
import { startWorkerPool, type WorkerPool } from './start-worker-pool.js';
import { createHttpServer, type HttpPlugin } from '../http/http-server.js';
import { startWatchdog } from '../pipeline/watchdog.js';
import { startArtifactSweeper } from '../artifacts/artifact-sweeper.js';
import { artifactStoreFor } from '../artifacts/open-artifact-store.js';
import type { Frontend, FrontendFactory } from './frontend.js';
import { frontendFactories } from './frontends.js';
import { bounded } from './bounded.js';
import { closeStepTimeoutMs } from './open-core.js';
import { dockerClient } from './make-executor.js';
import type { ReadinessCheck } from '../http/health-routes.js';
import type { WebSession } from '../http/web/web-session.js';

/**
 * Workers get this long to close at shutdown: BullMQ waits for running jobs and for its
 * blocking fetch (up to 5 s), and forever on a Redis that is gone. Steps cut short resume
 * after the next start.
 */
export const workersCloseTimeoutMs = 10_000;

export interface RunningServer {
  core: Core;
  http: FastifyInstance;
  url: string;
  workers: WorkerPool | null;
  frontends: Frontend[];
  close(): Promise<void>;
}

/**
 * `bosun start`: the core, the demo repository, the HTTP server (API, web console, front
 * ends), the watchdog, and — unless `workers: 0` — in-process workers.
 */
export async function startServer(
  config: ServerConfig,
  log: Logger,
  opts: { prefix?: string; plugins?: HttpPlugin[]; executor?: Executor; frontends?: FrontendFactory[]; webSession?: WebSession } = {},
): Promise<RunningServer> {
  await mkdir(config.dataDir, { recursive: true });
  const core = await openCore(config, log, opts);
  try {
    await ensureApiToken(config);
    await seedDemoRepo(config.dataDir);
    const builds = makeBuildService(core.deps, core.redis, core.prefix);
    const frontends: Frontend[] = [];
    for (const factory of [...frontendFactories, ...(opts.frontends ?? [])]) {
      const fe = await factory(core, builds);
      if (fe) frontends.push(fe);
    }
    const plugins = [...(opts.plugins ?? []), ...frontends.flatMap((f) => (f.http ? [f.http] : []))];
    const checks: ReadinessCheck[] = [{ name: 'redis', check: () => redisCheck(core) }];
    const http = await createHttpServer(core, builds, plugins, checks, opts.webSession ? { session: opts.webSession } : {});
    const workers =
      config.workers > 0
        ? await startWorkerPool(core, {
            advance: true,
            concurrency: config.workers,
            labels: config.workerLabels,
            ...(opts.executor ? { executor: opts.executor } : {}),
          })
        : null;
    if (workers && workers.executor.name !== 'local') {
      const docker = dockerClient(config);
      checks.push({ name: 'executor', check: async () => (await docker.ping(), { ok: true, detail: `${workers.executor.name}: engine answers` }) });
    }
    for (const fe of frontends) if (fe.ready) checks.push({ name: fe.name, check: () => fe.ready?.() ?? Promise.resolve({ ok: true }) });
    const stopWatchdog = startWatchdog(core.deps, core.queue, config.queue.watchdogIntervalMs, workers?.executor);
    const stopArtifactSweeper = startArtifactSweeper(artifactStoreFor(config), config.artifacts, log);
    const address = await http.listen({ host: config.http.host, port: config.http.port });
    const url = config.http.publicUrl ?? address;
    if (!config.http.publicUrl) config.http.publicUrl = address;
    for (const fe of frontends) await fe.start?.();
    log.info({ url, executor: workers?.executor.name ?? 'none' }, 'Bosun is up');
    return {
      core,
      http,
      url,
      workers,
      frontends,
      async close() {
        stopWatchdog();
        stopArtifactSweeper();
        for (const fe of [...frontends].reverse()) await bounded(log, `front end ${fe.name}`, async () => fe.stop?.(), closeStepTimeoutMs);
        await bounded(log, 'http server', () => http.close(), closeStepTimeoutMs);
        await bounded(log, 'workers', async () => workers?.close(), workersCloseTimeoutMs);
        await core.close();
      },
    };
  } catch (err) {
    await core.close();
    throw err;
  }
}

/** The `/readyz` check for Redis: one PING, bounded (RedisHealth.check). */
async function redisCheck(core: Core): Promise<{ ok: boolean; detail: string }> {
  const r = await core.redisHealth.check();
  return r.ok ? { ok: true, detail: `PONG in ${r.latencyMs} ms` } : { ok: false, detail: r.error };
}

/**
 * With no API token configured, makes one and keeps it in `<dataDir>/api-token` (mode 0600),
 * which the CLI on the same machine reads.
 */
async function ensureApiToken(config: ServerConfig): Promise<void> {
  if (config.apiTokens.length > 0) return;
  const file = join(config.dataDir, 'api-token');
  let token = await readFile(file, 'utf8').then(
    (t) => t.trim(),
    () => '',
  );
  if (token.length < 16) {
    token = randomBytes(24).toString('base64url');
    await writeFile(file, `${token}\n`, { mode: 0o600 });
    await chmod(file, 0o600);
  }
  config.apiTokens.push({ name: 'local', token });
}

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
import type { Frontend, FrontendFactory } from './frontend.js';
import { frontendFactories } from './frontends.js';

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
export async function startServer(config: ServerConfig, log: Logger, opts: { prefix?: string; plugins?: HttpPlugin[]; executor?: Executor; frontends?: FrontendFactory[] } = {}): Promise<RunningServer> {
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
    const http = await createHttpServer(core, builds, plugins);
    const workers = config.workers > 0 ? await startWorkerPool(core, { advance: true, concurrency: config.workers, labels: config.workerLabels, ...(opts.executor ? { executor: opts.executor } : {}) }) : null;
    const stopWatchdog = startWatchdog(core.deps, core.queue, config.queue.watchdogIntervalMs, workers?.executor);
    const address = await http.listen({ host: config.http.host, port: config.http.port });
    const url = config.http.publicUrl ?? address;
    if (!config.http.publicUrl) config.http.publicUrl = address;
    for (const fe of frontends) await fe.start?.();
    log.info({ url, executor: workers?.executor.name ?? 'none' }, 'Bosun is up');
    return {
      core, http, url, workers,
      frontends,
      async close() {
        stopWatchdog();
        for (const fe of [...frontends].reverse()) await fe.stop?.().catch((err: unknown) => log.warn({ err, frontend: fe.name }, 'Front end stop failed'));
        await http.close();
        await workers?.close();
        await core.close();
      },
    };
  } catch (err) {
    await core.close();
    throw err;
  }
}

/**
 * With no API token configured, makes one and keeps it in `<dataDir>/api-token` (mode 0600),
 * which the CLI on the same machine reads.
 */
async function ensureApiToken(config: ServerConfig): Promise<void> {
  if (config.apiTokens.length > 0) return;
  const file = join(config.dataDir, 'api-token');
  let token = await readFile(file, 'utf8').then((t) => t.trim(), () => '');
  if (token.length < 16) {
    token = randomBytes(24).toString('base64url');
    await writeFile(file, `${token}\n`, { mode: 0o600 });
    await chmod(file, 0o600);
  }
  config.apiTokens.push({ name: 'local', token });
}

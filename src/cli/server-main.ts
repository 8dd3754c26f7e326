import { Command as Program } from 'commander';
import { loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { startServer, workersCloseTimeoutMs } from '../app/start-server.js';
import { openCore } from '../app/open-core.js';
import { startWorkerPool } from '../app/start-worker-pool.js';
import { stopOnSignal } from '../app/stop-on-signal.js';
import { bounded } from '../app/bounded.js';

/**
 * `bosun start` and `bosun worker`: the commands that run Bosun itself. Kept apart from the
 * client commands (src/cli/main.ts), which must not load the server to ask it something.
 */
export async function runServerCommand(argv: readonly string[]): Promise<void> {
  const program = new Program('bosun').showHelpAfterError();

  program
    .command('start')
    .description('run the Bosun server (API, web console, chat front ends) with in-process workers')
    .option('--port <port>', 'HTTP port (BOSUN_PORT)')
    .option('--workers <n>', 'in-process stage workers (0 = none)')
    .action(async (opts: { port?: string; workers?: string }) => {
      const config = loadConfig(process.env, {
        ...(opts.port ? { http: { port: Number(opts.port) } } : {}),
        ...(opts.workers ? { workers: Number(opts.workers) } : {}),
      });
      const log = createLogger(config.logLevel);
      const server = await startServer(config, log);
      process.stdout.write(`\nBosun is running at ${server.url}\n  web console: ${server.url}/\n  try:         bosun build demo#master --follow\n\n`);
      await stopOnSignal(log, () => server.close());
    });

  program
    .command('worker')
    .description('run workers only (no front ends); many may share one Redis')
    .option('--labels <labels>', 'comma-separated worker labels, e.g. macos', '')
    .option('--concurrency <n>', 'stages run at once', '2')
    .action(async (opts: { labels: string; concurrency: string }) => {
      const labels = opts.labels
        .split(',')
        .map((l) => l.trim())
        .filter(Boolean);
      // Labelled workers do OS-specific work outside Linux containers: the local executor (BOSUN_EXECUTOR still wins).
      const config = loadConfig(process.env, { workerLabels: labels, ...(labels.length ? { executor: 'local' as const } : {}) });
      const log = createLogger(config.logLevel);
      const core = await openCore(config, log);
      const pool = await startWorkerPool(core, { advance: labels.length === 0, concurrency: Number(opts.concurrency), labels });
      log.info({ labels, executor: pool.executor.name }, 'Worker ready');
      await stopOnSignal(log, async () => {
        await bounded(log, 'workers', () => pool.close(), workersCloseTimeoutMs);
        await core.close();
      });
    });

  await program.parseAsync([...argv], { from: 'user' });
}

import { Command as Program } from 'commander';
import { loadClientConfig, loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { isTerminal } from '../domain/status.js';
import { ApiClient } from './api-client.js';
import { startServer, workersCloseTimeoutMs } from '../app/start-server.js';
import { openCore } from '../app/open-core.js';
import { startWorkerPool } from '../app/start-worker-pool.js';
import { stopOnSignal } from '../app/stop-on-signal.js';
import { bounded } from '../app/bounded.js';

/**
 * The `bosun` command line. `start` and `worker` run Bosun; every other subcommand is a
 * client of the HTTP API and goes through the same shared commands as chat.
 */
const program = new Program('bosun').description('Chat-driven CI/CD').showHelpAfterError();

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
    const labels = opts.labels.split(',').map((l) => l.trim()).filter(Boolean);
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

const client = () => {
  const c = loadClientConfig();
  return new ApiClient(c.url, c.token);
};

async function say(text: string): Promise<void> {
  const reply = await client().command(text);
  process.stdout.write(`${reply.text}\n`);
  if (reply.code?.length) process.stdout.write(`${reply.code.join('\n')}\n`);
  if (reply.kind === 'error') process.exitCode = 1;
}

program
  .command('build <target>')
  .description('start a build: <repo>[#<ref>]')
  .option('-f, --follow', 'follow the build\'s logs until it finishes')
  .action(async (target: string, opts: { follow?: boolean }) => {
    const reply = await client().command(`build ${target}`);
    process.stdout.write(`${reply.text}\n`);
    if (reply.kind === 'error' || !reply.build) {
      process.exitCode = 1;
      return;
    }
    if (opts.follow) process.exitCode = await followBuild(reply.build.id);
  });

program.command('status [build]').description('show a build, or the latest builds').action((id?: string) => say(`status ${id ?? ''}`));
program.command('cancel <build>').description('cancel a build').action((id: string) => say(`cancel ${id}`));
program
  .command('retry <build>')
  .description('run a finished build again')
  .option('--failed', 'the same build, from its failed step')
  .action((id: string, opts: { failed?: boolean }) => say(`retry ${id}${opts.failed ? ' --failed' : ''}`));
program
  .command('logs <build> [step]')
  .description('show a step\'s log (<stage>/<step>; default: the failing or latest step)')
  .option('-f, --follow', 'follow the whole build live')
  .option('-n, --lines <n>', 'lines to show', '30')
  .action(async (id: string, step: string | undefined, opts: { follow?: boolean; lines: string }) => {
    if (opts.follow) {
      process.exitCode = await followBuild(id.replace(/^#/, ''));
      return;
    }
    await say(`logs ${id} ${step ?? ''} --lines ${opts.lines}`);
  });
program.command('help [command]').description('Bosun\'s chat commands').action((name?: string) => say(`help ${name ?? ''}`));

/** Prints every step's log as it runs, in order; returns 0 when the build succeeds. */
async function followBuild(id: string): Promise<number> {
  const api = client();
  const printed = new Set<string>();
  for (;;) {
    const build = await api.build(id);
    for (const stage of build.stages) {
      for (const step of stage.steps) {
        const key = `${stage.name}/${step.name}`;
        if (printed.has(key) || step.status === 'pending' || step.status === 'queued') continue;
        if (step.status === 'skipped' || step.status === 'cancelled' && step.runs === 0) {
          printed.add(key);
          continue;
        }
        process.stdout.write(`--- ${key}\n`);
        await api.followLog(id, stage.name, step.name, (line) => process.stdout.write(`${line}\n`));
        printed.add(key);
      }
    }
    if (isTerminal(build.status) && build.stages.every((s) => s.steps.every((st) => printed.has(`${s.name}/${st.name}`) || st.runs === 0))) {
      process.stdout.write(`=== build #${id} ${build.status}${build.error ? `: ${build.error.message}` : ''}\n`);
      return build.status === 'success' ? 0 : 1;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`bosun: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});

import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A real `bosun worker` process against a test Redis, for fleet and crash tests. */
export function startWorkerProcess(opts: {
  redisUrl: string;
  dir: string;
  name: string;
  config: Record<string, unknown>;
  labels?: string[];
  concurrency?: number;
  /** `BOSUN_EXECUTOR` (default `local`). */
  executor?: string;
}): ChildProcess {
  const configFile = join(opts.dir, `config-${opts.name}.json`);
  writeFileSync(configFile, JSON.stringify(opts.config));
  const args = ['worker', '--concurrency', String(opts.concurrency ?? 1)];
  if (opts.labels?.length) args.push('--labels', opts.labels.join(','));
  return spawn(join(process.cwd(), 'bin', 'bosun'), args, {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      REDIS_URL: opts.redisUrl,
      BOSUN_CONFIG: configFile,
      BOSUN_DATA_DIR: join(opts.dir, `data-${opts.name}`),
      BOSUN_EXECUTOR: opts.executor ?? 'local',
      BOSUN_LOG_LEVEL: process.env.BOSUN_TEST_LOG ?? 'silent',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

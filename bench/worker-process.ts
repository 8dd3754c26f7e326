import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerConfigInput } from '../src/config.js';
import type { LoopReading } from './loop-probe.js';
import { bosunCommand, compiled } from './paths.js';

/** Fields of /proc/<pid>/stat from the third (state) on, so field n is at index n - 3. */
function procStat(pid: number): number[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
}

/** The live child processes of `pid` (every thread's `children` list). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
    if (text) out.push(...text.split(/\s+/).map(Number));
  }
  return out;
}

/**
 * CPU seconds of process `pid` (`self`: its user + system time) and of all its descendants
 * (`descendants`, from /proc: its waited-for children's cutime + cstime, and recursively the
 * same of every live child, their own time included). A process that ended between two readings moves from "live child" to its parent's
 * waited-for time, so differences of this figure count it once.
 */
export function treeCpuSec(pid: number): { self: number; descendants: number } {
  const ticks = (p: number): number => {
    let stat: number[];
    try {
      stat = procStat(p);
    } catch {
      return 0; // ended meanwhile: its parent's waited-for time has it (or will)
    }
    let sum = stat[11]! + stat[12]! + stat[13]! + stat[14]!;
    let kids: number[];
    try {
      kids = childPids(p);
    } catch {
      kids = [];
    }
    for (const k of kids) sum += ticks(k);
    return sum;
  };
  let self: number;
  try {
    const stat = procStat(pid);
    self = stat[11]! + stat[12]!;
  } catch {
    self = 0;
  }
  const total = ticks(pid);
  return { self: self / 100, descendants: (total - self) / 100 };
}

function readReading(file: string): LoopReading | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LoopReading;
  } catch {
    return undefined; // not there yet: the next poll reads it
  }
}

/** A running `bosun worker` of the bench's Bosun, in its own process. */
export interface WorkerProcess {
  pid: number;
  /** CPU seconds so far of the worker process itself, and of its child processes (process helper, git, copies). */
  cpuSec(): { self: number; descendants: number };
  /** Event-loop delay of the worker since the previous call (compiled bench only; undefined under tsx). */
  loopDelay(): Promise<LoopReading | undefined>;
  /** Its stderr and stdout's last lines (for errors). */
  output(): string;
  /** SIGTERM, wait for it to end (SIGKILL after 20 s), remove its data directory. */
  stop(): Promise<void>;
}

/**
 * Starts the real `bosun worker --concurrency <n>` (the compiled `src/cli/main.js` on plain
 * node when the bench runs compiled, as Bosun's image runs it; bin/bosun under tsx) as a
 * separate process of the Bosun whose server config is `config`: same Redis, same instance,
 * same repositories, its own data directory (as on another machine). It runs the advance worker
 * and `n` stage workers, exactly what `bosun worker` runs. When compiled, bench/loop-probe.js is
 * preloaded so the bench can read the worker's event-loop delay; with
 * `BOSUN_BENCH_WORKER_PROF=<dir>` the worker also runs with `--cpu-prof` into that directory
 * (written when it stops).
 */
export function startWorkerProcess(opts: { config: ServerConfigInput; concurrency: number; redisUrl: string }): WorkerProcess {
  const dir = mkdtempSync(join(tmpdir(), 'bosun-bench-worker-'));
  const dataDir = join(dir, 'data');
  const configFile = join(dir, 'bosun.json');
  const loopFile = join(dir, 'loop.json');
  // The front ends' settings (github app, chat) are the server's; the worker gets the rest.
  const { github: _github, workers: _workers, http: _http, ...shared } = opts.config as Record<string, unknown>;
  writeFileSync(configFile, JSON.stringify({ ...shared, redisUrl: opts.redisUrl, dataDir, executor: 'swarm', sandbox: 'step' }));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    BOSUN_CONFIG: configFile,
    BOSUN_LOG_LEVEL: 'warn',
    BOSUN_BENCH_LOOP_FILE: loopFile,
  };
  if (process.env.DOCKER_HOST) env.DOCKER_HOST = process.env.DOCKER_HOST;
  const workerArgs = ['worker', '--concurrency', String(opts.concurrency)];
  let file: string;
  let args: string[];
  if (compiled) {
    const main = bosunCommand(workerArgs);
    const probe = fileURLToPath(new URL('./loop-probe.js', import.meta.url));
    const prof = process.env.BOSUN_BENCH_WORKER_PROF;
    // bosunCommand: [node flags…, main.js, …workerArgs]; the preload and profiler go before main.js.
    const mainAt = main.args.length - workerArgs.length - 1;
    file = main.file;
    args = [...main.args.slice(0, mainAt), '--import', probe, ...(prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : []), ...main.args.slice(mainAt)];
  } else {
    ({ file, args } = bosunCommand(workerArgs));
  }
  const child: ChildProcess = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let seq = 0;
  return {
    pid: child.pid!,
    cpuSec: () => treeCpuSec(child.pid!),
    async loopDelay() {
      if (!compiled || child.exitCode !== null) return undefined;
      child.kill('SIGUSR2');
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline) {
        const reading = existsSync(loopFile) ? readReading(loopFile) : undefined;
        if (reading && reading.seq > seq) {
          seq = reading.seq;
          return reading;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      return undefined;
    },
    output: () => tail,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const force = setTimeout(() => child.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(force);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

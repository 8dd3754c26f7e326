import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { ApiClient } from '../src/cli/api-client.js';
import { isTerminal } from '../src/domain/status.js';
import { bosunCommand } from './paths.js';

/** Resident memory of a real `bosun start` and the processes it started, MiB. */
export interface ProcessMemory {
  /** After start, idle (nothing built yet). */
  fresh: ProcessTree;
  /** After one build of the bundled demo repository, idle again. */
  afterBuild: ProcessTree;
  buildStatus: string;
  workers: number;
  /** How long it idled before each reading. */
  idleSec: number;
  /** The extra environment it ran with (e.g. `BOSUN_SANDBOX_POOL`). */
  env: Record<string, string>;
}

/** Bosun's containers running while it idles (a warm pool's sandboxes), with their memory. */
export interface IdleContainers {
  count: number;
  /** Sum of the containers' cgroup memory (usage less inactive file cache), MiB. */
  memMiB: number;
}

/** Resident memory of one process: RSS, and PSS (shared pages split among the processes mapping them). */
export interface Resident {
  rssMiB: number;
  pssMiB: number;
}

export interface ProcessTree {
  /** The `bosun start` process: server, HTTP, chat front ends, advance worker and stage workers. */
  bosun: Resident;
  /** Its process helper (git, the workspace copy). */
  helper: Resident;
  /** The embedded redis-server (not Bosun's code; shown apart). */
  redis: Resident;
  /** Containers of this Bosun (label bosun.instance) running at the reading: a warm pool's sandboxes. */
  containers: IdleContainers;
}

/** What Bosun's own two processes occupy together (PSS: shared pages counted once). */
export function bosunPssMiB(t: ProcessTree): number {
  return t.bosun.pssMiB + t.helper.pssMiB;
}

/**
 * Starts `bosun start` exactly as `npm start` runs it (node + tsx, embedded Redis, the
 * executor the engine calls for), on its own data directory and a free port, with
 * `workers` stage workers; reads the process tree's RSS and PSS from /proc once it has idled, then
 * builds the demo repository through the API, idles again and reads it once more. This is
 * the DESIGN target's "server plus one worker", measured on the process a user runs, not on
 * the bench's own process (which holds the bench, dockerode and the floors too).
 */
export async function measureBosunProcess(opts: {
  docker: Docker;
  workers: number;
  idleSec: number;
  progress: (text: string) => void;
  env?: Record<string, string>;
}): Promise<ProcessMemory> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bosun-bench-mem-'));
  const instanceId = `bench-mem-${process.pid}`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    BOSUN_DATA_DIR: dataDir,
    BOSUN_PORT: '0',
    BOSUN_WORKERS: String(opts.workers),
    BOSUN_LOG_LEVEL: 'warn',
    BOSUN_INSTANCE_ID: instanceId,
    ...opts.env,
  };
  if (process.env.DOCKER_HOST) env.DOCKER_HOST = process.env.DOCKER_HOST;
  const command = bosunCommand(['start']);
  const child = spawn(command.file, command.args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const url = await runningAt(child);
    const api = new ApiClient(url, readFileSync(join(dataDir, 'api-token'), 'utf8').trim());
    opts.progress(`memory: bosun start (${opts.workers} worker) at ${url}, idle ${opts.idleSec} s`);
    await sleep(opts.idleSec * 1000);
    const fresh = await tree(child.pid!, opts.docker, instanceId);
    opts.progress('memory: building demo#master through the API, then idle again');
    const buildStatus = await buildDemo(api);
    await sleep(opts.idleSec * 1000);
    const afterBuild = await tree(child.pid!, opts.docker, instanceId);
    return { fresh, afterBuild, buildStatus, workers: opts.workers, idleSec: opts.idleSec, env: opts.env ?? {} };
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => {
      const force = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.once('exit', () => resolve(clearTimeout(force)));
      if (child.exitCode !== null) resolve(clearTimeout(force));
    });
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function runningAt(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`bosun start did not come up in 60 s: ${err.slice(-2000)}`)), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /Bosun is running at (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bosun start exited with ${code}: ${err.slice(-2000)}`));
    });
  });
}

/** `build demo#master` through the API, as the CLI sends it; polls until the build ends. */
async function buildDemo(api: ApiClient): Promise<string> {
  const reply = await api.command('build demo#master');
  if (!reply.build) throw new Error(`build demo#master: ${reply.text}`);
  const deadline = Date.now() + 5 * 60_000;
  while (Date.now() < deadline) {
    const b = await api.build(reply.build.id);
    if (isTerminal(b.status)) return b.status;
    await sleep(500);
  }
  throw new Error(`demo build #${reply.build.id} did not finish in 5 minutes`);
}

/** RSS and PSS of `pid` and of its child processes by kind, from /proc; and its instance's running containers. */
async function tree(pid: number, docker: Docker, instanceId: string): Promise<ProcessTree> {
  const result: ProcessTree = {
    bosun: resident(pid),
    helper: { rssMiB: 0, pssMiB: 0 },
    redis: { rssMiB: 0, pssMiB: 0 },
    containers: await runningContainers(docker, instanceId),
  };
  for (const child of childrenOf(pid)) {
    const comm = readFileSync(`/proc/${child}/comm`, 'utf8').trim();
    const into = comm.startsWith('redis-server') ? result.redis : result.helper;
    const r = resident(child);
    into.rssMiB += r.rssMiB;
    into.pssMiB += r.pssMiB;
  }
  return result;
}

/** This Bosun's running containers (label `bosun.instance`) and their memory, from the engine. */
export async function runningContainers(docker: Docker, instanceId: string): Promise<IdleContainers> {
  const list = await docker.listContainers({ filters: JSON.stringify({ label: [`bosun.instance=${instanceId}`], status: ['running'] }) });
  let bytes = 0;
  for (const c of list) {
    const stats = (await docker
      .getContainer(c.Id)
      .stats({ stream: false })
      .catch(() => undefined)) as { memory_stats?: { usage?: number; stats?: { inactive_file?: number } } } | undefined;
    bytes += Math.max(0, (stats?.memory_stats?.usage ?? 0) - (stats?.memory_stats?.stats?.inactive_file ?? 0));
  }
  return { count: list.length, memMiB: bytes / (1024 * 1024) };
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const list = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
    if (list) out.push(...list.split(' ').map(Number));
  }
  return out;
}

function resident(pid: number): Resident {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? 0);
  return { rssMiB: kb('Rss') / 1024, pssMiB: kb('Pss') / 1024 };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

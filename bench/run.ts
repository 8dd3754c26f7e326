/**
 * `npm run bench` — Bosun against the floor on this machine, in one run (not a test).
 *
 *   npm run bench [-- --n 20] [--builds 50] [--concurrency 4] [--pool 2] [--quick] [--skip-local] [--only swarm,throughput,…]
 *
 * bench/bench.sh compiles all of it (tsconfig.bench.json) and runs it on plain node: Bosun runs
 * from the compiled JavaScript here and in every `bosun start` the bench spawns.
 * `sandbox` phase: `sandbox: step` against `sandbox: stage` (bench/sandbox-steps.ts).
 * `pool` phase: the warm pool of sandboxes against floors B and C (bench/pool-phase.ts).
 * `demo` phase: the demo pipeline `--builds` times, per-step path against sandbox per stage (bench/demo-burst.ts).
 * `ingest` phase: signed duplicate deliveries, Bosun against a bare verify-and-dedupe server (bench/ingest.ts).
 * The targets of issue 20 are printed last, one row each (bench/targets.ts).
 * Floors: A = `docker run --rm <busybox id> true` (CLI), B = a bare one-shot Swarm service via
 * the API (Replicated, RestartPolicy none, image by ID, task polled every 100 ms, removed),
 * C = floor B with Bosun's isolation and nothing else of Bosun (the build's own network and
 * volume, the swarm executor's full service spec; see `IsolatedFloor`). The targets are
 * against A and B; C separates Bosun's own overhead (vs C) from the price of isolation (C vs B).
 * Bosun runs in this process (server, HTTP, advance worker and `--concurrency` stage workers)
 * on its own redis-server; its builds are triggered through `createBuild` (what the API,
 * chat and webhooks call) for a repository whose spec is one `run: "true"` step.
 * Floor and Bosun runs alternate (A, Bosun, A, Bosun …) so that load from other processes on
 * this shared machine hits both alike. Results also go to `.bench/results.json`.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import Docker from 'dockerode';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { processHelperPid } from '../src/process/process-helper.js';
import { BosunRig, type BuildTiming, type ExecutorKind } from './bosun-rig.js';
import { ContainerStarts } from './container-starts.js';
import { IsolatedFloor, bareServiceOnce, dockerRunOnce, sweepFloor, type FloorRun } from './floor.js';
import { timePieces } from './pieces.js';
import { bosunPssMiB, measureBosunProcess, type ProcessMemory, type ProcessTree, type Resident } from './process-memory.js';
import { ms, pool, ratio, summarize, table, type Summary } from './stats.js';
import { sandboxPhase, sandboxReport, type SandboxResult } from './sandbox-steps.js';
import { checkoutRoot, compiled } from './paths.js';
import { poolPhase, type PoolResult, type PoolRow } from './pool-phase.js';
import { demoPhase, type DemoResult } from './demo-burst.js';
import { benchGithubConfig, benchWebhookSecret, ingestPhase, meanCpuUs, meanRate, type IngestResult, type IngestSide } from './ingest.js';
import { ackSender } from './webhook-load.js';
import { splitBurst, type SplitBurst } from './split-burst.js';
import { ackLine, burstTargets, splitReportLines } from './burst-targets.js';
import { largestSegment, targetsTable, type Target } from './targets.js';

interface Args {
  n: number;
  builds: number;
  concurrency: number;
  warmup: number;
  pool: number;
  skipLocal: boolean;
  only: Set<string> | undefined;
}

const phases = ['swarm', 'docker', 'local', 'throughput', 'memory', 'sandbox', 'pieces', 'pool', 'demo', 'ingest'];

function parseArgs(argv: string[]): Args {
  const args: Args = { n: 20, builds: 50, concurrency: 4, warmup: 2, pool: 2, skipLocal: false, only: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1) throw new Error(`${a} needs a positive integer`);
      return v;
    };
    if (a === '--n') args.n = value();
    else if (a === '--builds') args.builds = value();
    else if (a === '--concurrency') args.concurrency = value();
    else if (a === '--warmup') args.warmup = value();
    else if (a === '--pool') args.pool = value();
    else if (a === '--quick') Object.assign(args, { n: 5, builds: 10, warmup: 1 });
    else if (a === '--skip-local') args.skipLocal = true;
    else if (a === '--only') {
      args.only = new Set((argv[++i] ?? '').split(','));
      const unknown = [...args.only].filter((p) => !phases.includes(p));
      if (unknown.length > 0) throw new Error(`--only: no phase ${unknown.join(', ')} (phases: ${phases.join(', ')})`);
    } else if (a === '--help' || a === '-h') {
      console.log(
        'npm run bench [-- --n 20] [--builds 50] [--concurrency 4] [--warmup 2] [--pool 2] [--quick] [--skip-local] [--only swarm,docker,local,throughput,memory,pieces,sandbox,pool,demo,ingest]',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const MiB = 1024 * 1024;
const busyboxImage = 'bosun/busybox:1';
const benchId = `bench-${process.pid}`;
const docker = new Docker();
const benchStarted = performance.now();
const loadBefore = loadavg();

function progress(text: string): void {
  process.stderr.write(`[bench ${((performance.now() - benchStarted) / 1000).toFixed(0).padStart(4)} s] ${text}\n`);
}

/** Fields of /proc/<pid>/stat from the third (state) on, so field n is at index n - 3. */
function procStat(pid: number | 'self'): number[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
}

/** CPU seconds the whole machine has been busy (all processes, all cores), from /proc/stat. */
function machineCpuSec(): number {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = fields.map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / 100;
}

/**
 * CPU seconds of this process's children (tar, docker CLI, and git), from /proc: the waited-for
 * ones (cutime + cstime), plus Bosun's long-lived process helper, which runs git and workspace copies for this process
 * (its own utime + stime and its waited-for children's).
 */
function childCpuSec(): number {
  try {
    const self = procStat('self');
    let ticks = self[13]! + self[14]!;
    const helper = processHelperPid();
    if (helper !== undefined) {
      const h = procStat(helper);
      ticks += h[11]! + h[12]! + h[13]! + h[14]!;
    }
    return ticks / 100;
  } catch {
    return NaN;
  }
}

async function preflight(): Promise<string> {
  try {
    await docker.ping();
  } catch (err) {
    throw new Error(`no Docker engine answers (${(err as Error).message}); run: bash scripts/docker-up.sh`, { cause: err });
  }
  const info = (await docker.info()) as { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean } };
  if (info.Swarm?.LocalNodeState !== 'active' || !info.Swarm.ControlAvailable)
    throw new Error('the engine is not a swarm manager; run: bash scripts/docker-up.sh');
  return (await docker.getImage(busyboxImage).inspect()).Id;
}

interface FloorSample {
  totalMs: number;
  toStartMs: number;
}

async function floorSample(run: Promise<FloorRun>, starts: ContainerStarts): Promise<FloorSample> {
  const r = await run;
  const started = await starts.get(r.startKey);
  return { totalMs: r.totalMs, toStartMs: started === undefined ? NaN : started - r.t0 };
}

async function bosunOnce(rig: BosunRig, starts: ContainerStarts): Promise<BuildTiming> {
  const { id, t0 } = await rig.trigger();
  await rig.finished(id);
  const started = rig.kind === 'local' ? undefined : await starts.get(`${rig.instanceId}/${id}`);
  const timing = await rig.timing(id, t0, started);
  await rig.cleanupBuild(id);
  if (timing.status !== 'success') throw new Error(`bench build #${id} on ${rig.kind} ended ${timing.status}`);
  return timing;
}

interface LatencyResult {
  executor: ExecutorKind;
  floor?: { name: string; total: Summary; toStart: Summary };
  /** Swarm only: floor C (Bosun's isolation, nothing else). */
  isolated?: { total: Summary; toStart: Summary };
  bosun: { toStepRecord: Summary; toContainerStart: Summary; toFinished: Summary };
  breakdown: Record<string, Summary>;
  builds: BuildTiming[];
}

const segments: [string, keyof BuildTiming, keyof BuildTiming][] = [
  ['trigger → createdAt (ls-remote, id, create, audit)', 'trigger', 'createdAt'],
  ['createdAt → build startedAt (advance hop, checkout, spec)', 'createdAt', 'buildStartedAt'],
  ['build startedAt → stage startedAt (stage job hop)', 'buildStartedAt', 'stageStartedAt'],
  ['stage startedAt → step startedAt (workspace check, log reset)', 'stageStartedAt', 'stepStartedAt'],
  ['step startedAt → container started (executor start)', 'stepStartedAt', 'containerStartedAt'],
  ['container started → step finishedAt (run, detect, logs, destroy)', 'containerStartedAt', 'stepFinishedAt'],
  ['step startedAt → step finishedAt (whole executor step)', 'stepStartedAt', 'stepFinishedAt'],
  ['step finishedAt → stage finishedAt', 'stepFinishedAt', 'stageFinishedAt'],
  ['stage finishedAt → build finishedAt (advance hop)', 'stageFinishedAt', 'finishedAt'],
];

function breakdownOf(builds: BuildTiming[]): Record<string, Summary> {
  const out: Record<string, Summary> = {};
  for (const [name, from, to] of segments) out[name] = summarize(builds.map((b) => (b[to] as number) - (b[from] as number)));
  return out;
}

async function latency(kind: ExecutorKind, imageId: string, starts: ContainerStarts): Promise<LatencyResult> {
  const rig = await BosunRig.start(kind, { docker, instanceId: `${benchId}-${kind}`, workers: args.concurrency });
  try {
    const floorName = kind === 'docker' ? 'A: docker run --rm (CLI)' : kind === 'swarm' ? 'B: bare one-shot service (API)' : undefined;
    let seq = 0;
    const floorRun =
      kind === 'docker'
        ? () => floorSample(dockerRunOnce(imageId, benchId, `a${seq++}`), starts)
        : kind === 'swarm'
          ? () => floorSample(bareServiceOnce(docker, imageId, benchId, `b${process.pid}-${seq++}`), starts)
          : undefined;
    const iso = kind === 'swarm' ? new IsolatedFloor(docker, imageId, benchId) : undefined;
    const isoRun = iso ? () => floorSample(iso.once(`c${process.pid}-${seq++}`), starts) : undefined;
    progress(`${kind}: warm-up (${args.warmup} each)`);
    for (let i = 0; i < args.warmup; i++) {
      await floorRun?.();
      await isoRun?.();
      await bosunOnce(rig, starts);
    }
    const floor: FloorSample[] = [];
    const isolated: FloorSample[] = [];
    const builds: BuildTiming[] = [];
    for (let i = 0; i < args.n; i++) {
      if (floorRun) floor.push(await floorRun());
      if (isoRun) isolated.push(await isoRun());
      builds.push(await bosunOnce(rig, starts));
      if ((i + 1) % 5 === 0) progress(`${kind}: ${i + 1}/${args.n}`);
    }
    await iso?.sweep();
    return {
      executor: kind,
      ...(floorName ? { floor: { name: floorName, total: summarize(floor.map((f) => f.totalMs)), toStart: summarize(floor.map((f) => f.toStartMs)) } } : {}),
      ...(isoRun ? { isolated: { total: summarize(isolated.map((f) => f.totalMs)), toStart: summarize(isolated.map((f) => f.toStartMs)) } } : {}),
      bosun: {
        toStepRecord: summarize(builds.map((b) => b.stepStartedAt - b.trigger)),
        toContainerStart: summarize(builds.map((b) => b.containerStartedAt - b.trigger)),
        toFinished: summarize(builds.map((b) => b.finishedAt - b.trigger)),
      },
      breakdown: breakdownOf(builds),
      builds,
    };
  } finally {
    await rig.stop();
  }
}

interface ThroughputResult {
  builds: number;
  concurrency: number;
  /** Mean of the two floor runs (before and after Bosun's). */
  floorWallMs: number;
  floorRunsMs: number[];
  bosunWallMs: number;
  bosunCpuSec: number;
  bosunChildCpuSec: number;
  cpuPerBuildSec: number;
  cpuPerBuildWithChildrenSec: number;
  /** Floor C: the same number of isolated one-shot services (Bosun's spec, own network + volume), same pool. */
  isolatedWallMs: number;
  machineCpuPerIsolatedRunSec: number;
  /** Whole-machine busy CPU-s per build or service: Docker engine + containerd + runc + Bosun. */
  machineCpuPerFloorRunSec: number;
  machineCpuPerBuildSec: number;
  idle: { rssMiB: number; heapUsedMiB: number; heapTotalMiB: number; freshRssMiB: number; freshHeapUsedMiB: number; processBaselineRssMiB: number };
  breakdown: Record<string, Summary>;
  /** Webhook acks while the builds ran, from a separate client process (one delivery every 20 ms, each a new id). */
  ack: WebhookAck;
  /** CPU-s the acks cost Bosun's process during the burst (per-ack CPU from the idle probe × acks), taken out of `bosunCpuSec`. */
  ackCpuSec: number;
  cpuPerAckMs: number;
  /** The same burst as deployed for real: the server apart from a `bosun worker` process (bench/split-burst.ts). */
  split?: SplitBurst;
  splitError?: string;
}

interface WebhookAck {
  latency: Summary & { p50: number; p99: number };
  statuses: Record<string, number>;
  /** Event-loop delay of the bench process (Bosun's server and workers run in it) during the burst, ms. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

/** Nearest-rank percentile. */
function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function idleMemory(seconds: number): Promise<{ rssMiB: number; heapUsedMiB: number; heapTotalMiB: number }> {
  await new Promise((r) => setTimeout(r, seconds * 1000));
  gc();
  await new Promise((r) => setTimeout(r, 200));
  const m = process.memoryUsage();
  return { rssMiB: m.rss / MiB, heapUsedMiB: m.heapUsed / MiB, heapTotalMiB: m.heapTotal / MiB };
}

async function throughput(imageId: string, baselineRssMiB: number): Promise<ThroughputResult> {
  const rig = await BosunRig.start('swarm', { docker, instanceId: `${benchId}-tput`, workers: args.concurrency, config: { github: benchGithubConfig } });
  try {
    const fresh = await idleMemory(3);
    progress(`throughput: warm-up`);
    await bosunOnce(rig, await startsFor());
    await bareServiceOnce(docker, imageId, benchId, `w${process.pid}`);

    // Floor before and after Bosun (sandwich), so that load arriving mid-run shows up in both.
    const floorRun = async (round: number) => {
      progress(`throughput: floor (${round}/2), ${args.builds} bare one-shot services, ${args.concurrency} at a time`);
      const f0 = performance.now();
      const m0 = machineCpuSec();
      await pool(args.concurrency, args.builds, (i) => bareServiceOnce(docker, imageId, benchId, `t${process.pid}-${round}-${i}`));
      floorMachineCpu.push(machineCpuSec() - m0);
      return performance.now() - f0;
    };
    const floorMachineCpu: number[] = [];
    const floorBefore = await floorRun(1);

    // What one webhook ack costs Bosun's process, measured on the idle rig (3 s of acks against
    // 3 s without), so that the acks sent during the burst can be taken out of its CPU per build.
    progress('throughput: CPU of webhook acks on the idle server (1.5 s of acks to warm the path up, then 3 s without, 3 s with)');
    const warmAcks = await ackSender({ url: `${rig.harness.url}/github/webhooks`, secret: benchWebhookSecret, intervalMs: 20 });
    await new Promise((r) => setTimeout(r, 1500));
    await warmAcks.stop();
    gc();
    const quiet0 = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 3000));
    const quiet = process.cpuUsage(quiet0);
    const probe = await ackSender({ url: `${rig.harness.url}/github/webhooks`, secret: benchWebhookSecret, intervalMs: 20 });
    const probe0 = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 3000));
    const probed = process.cpuUsage(probe0);
    const probeReport = await probe.stop();
    const cpuPerAckSec = Math.max(0, (probed.user + probed.system - quiet.user - quiet.system) / 1e6 / Math.max(1, probeReport.latenciesMs.length));
    progress(`throughput: Bosun, ${args.builds} builds queued at once, ${args.concurrency} stage workers, webhook acks from a separate process`);
    gc();
    // Webhook deliveries from a separate process while the builds run (their CPU is not Bosun's,
    // but the server's work on them is, as it would be in production).
    const acks = await ackSender({ url: `${rig.harness.url}/github/webhooks`, secret: benchWebhookSecret, intervalMs: 20 });
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const cpu0 = process.cpuUsage();
    const child0 = childCpuSec();
    const machine0 = machineCpuSec();
    const b0 = performance.now();
    const triggered = await Promise.all(Array.from({ length: args.builds }, () => rig.trigger()));
    await Promise.all(triggered.map((t) => rig.finished(t.id, 120_000 + args.builds * 6_000)));
    const bosunWallMs = performance.now() - b0;
    const cpu = process.cpuUsage(cpu0);
    const childCpu = childCpuSec() - child0;
    const machineCpu = machineCpuSec() - machine0;
    loop.disable();
    const ackReport = await acks.stop();
    const ack: WebhookAck = {
      latency: { ...summarize(ackReport.latenciesMs), p50: percentile(ackReport.latenciesMs, 50), p99: percentile(ackReport.latenciesMs, 99) },
      statuses: ackReport.statuses,
      loopDelayP99Ms: loop.percentile(99) / 1e6,
      loopDelayMaxMs: loop.max / 1e6,
    };
    const timings = await Promise.all(triggered.map((t) => rig.timing(t.id, t.t0, undefined)));
    const failed = timings.filter((t) => t.status !== 'success');
    if (failed.length > 0)
      throw new Error(`${failed.length} of the ${args.builds} builds did not succeed: ${failed.map((f) => `#${f.id} ${f.status}`).join(', ')}`);
    progress('throughput: cleaning up the builds (not timed)');
    await pool(4, triggered.length, (i) => rig.cleanupBuild(triggered[i]!.id));
    const split = await splitBurst({
      docker,
      instanceId: `${benchId}-split`,
      builds: args.builds,
      concurrency: args.concurrency,
      github: benchGithubConfig,
      secret: benchWebhookSecret,
      cpuPerAckSec,
      machineCpuSec,
      childCpuSec,
      gc,
      progress,
    }).then(
      (result) => ({ result }),
      (err: unknown) => ({ error: err instanceof Error ? err.message : String(err) }),
    );
    const floorAfter = await floorRun(2);
    const floorWallMs = (floorBefore + floorAfter) / 2;
    progress(`throughput: floor C, ${args.builds} isolated one-shot services (Bosun's spec, own network + volume), ${args.concurrency} at a time`);
    const iso = new IsolatedFloor(docker, imageId, benchId);
    const i0 = performance.now();
    const im0 = machineCpuSec();
    await pool(args.concurrency, args.builds, (i) => iso.once(`tc${process.pid}-${i}`));
    const isolatedWallMs = performance.now() - i0;
    const isolatedMachineCpu = machineCpuSec() - im0;
    await iso.sweep();

    progress('idle memory (5 s idle, then GC)');
    const idle = await idleMemory(5);
    const ackCpuSec = cpuPerAckSec * ack.latency.n;
    const cpuSec = (cpu.user + cpu.system) / 1e6 - ackCpuSec;
    return {
      builds: args.builds,
      concurrency: args.concurrency,
      floorWallMs,
      floorRunsMs: [floorBefore, floorAfter],
      bosunWallMs,
      bosunCpuSec: cpuSec,
      bosunChildCpuSec: childCpu,
      cpuPerBuildSec: cpuSec / args.builds,
      cpuPerBuildWithChildrenSec: (cpuSec + childCpu) / args.builds,
      isolatedWallMs,
      machineCpuPerIsolatedRunSec: isolatedMachineCpu / args.builds,
      machineCpuPerFloorRunSec: (floorMachineCpu[0]! + floorMachineCpu[1]!) / 2 / args.builds,
      machineCpuPerBuildSec: machineCpu / args.builds,
      idle: { ...idle, freshRssMiB: fresh.rssMiB, freshHeapUsedMiB: fresh.heapUsedMiB, processBaselineRssMiB: baselineRssMiB },
      breakdown: breakdownOf(timings),
      ack,
      ackCpuSec,
      cpuPerAckMs: cpuPerAckSec * 1000,
      ...('result' in split ? { split: split.result } : { splitError: split.error }),
    };
  } finally {
    await rig.stop();
  }
}

let startsSingleton: ContainerStarts | undefined;
async function startsFor(): Promise<ContainerStarts> {
  startsSingleton ??= await ContainerStarts.open(docker);
  return startsSingleton;
}

function pass(ok: boolean): string {
  return ok ? 'PASS' : 'MISS';
}

async function main(): Promise<void> {
  const baselineRssMiB = process.memoryUsage().rss / MiB;
  const imageId = await preflight();
  const starts = await startsFor();
  progress(
    `n=${args.n}, builds=${args.builds}, concurrency=${args.concurrency}, warm-up=${args.warmup}; load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')} on ${cpus().length} CPUs`,
  );
  const results: Results = {};
  try {
    const want = (phase: string) => !args.only || args.only.has(phase);
    if (want('swarm')) results.swarm = await latency('swarm', imageId, starts);
    if (want('docker')) results.docker = await latency('docker', imageId, starts);
    if (want('local') && !args.skipLocal) results.local = await latency('local', imageId, starts);
    if (want('throughput')) results.throughput = await throughput(imageId, baselineRssMiB);
    if (want('memory'))
      results.memory = await measureBosunProcess({
        docker,
        workers: 1,
        idleSec: 10,
        progress,
        // The warm pool is the docker executor's, with a sandbox per stage (a build that does not know the variable ignores it).
        env: { BOSUN_EXECUTOR: 'docker', BOSUN_SANDBOX: 'stage', BOSUN_SANDBOX_POOL: String(args.pool) },
      });
    if (want('sandbox')) results.sandbox = await sandboxPhase(docker, benchId, { n: args.n, warmup: args.warmup, kinds: ['docker', 'swarm'], progress });
    if (want('pool')) results.pool = await poolPhase(docker, imageId, benchId, { n: args.n, warmup: args.warmup, size: args.pool, progress });
    if (want('demo'))
      results.demo = await demoPhase(docker, benchId, {
        builds: args.builds,
        concurrency: args.concurrency,
        poolSize: results.pool?.unavailable ? 0 : args.pool,
        progress,
      });
    if (want('ingest')) results.ingest = await ingestPhase(docker, benchId, { rounds: 3, seconds: 5, connections: 16, progress });
    if (want('pieces')) {
      progress('pieces: what Bosun adds around a step, each timed alone');
      results.pieces = await timePieces(docker, imageId, benchId, args.n >= 20 ? 8 : 4);
    }
  } finally {
    starts.close();
    await sweepFloor(docker, benchId).catch(() => undefined);
  }
  report(results, imageId);
}

interface Results {
  docker?: LatencyResult;
  swarm?: LatencyResult;
  local?: LatencyResult;
  throughput?: ThroughputResult;
  memory?: ProcessMemory;
  pieces?: Record<string, Summary>;
  sandbox?: SandboxResult;
  pool?: PoolResult;
  demo?: DemoResult;
  ingest?: IngestResult;
}

function report(r: Results, imageId: string): void {
  const loadAfter = loadavg();
  const out: string[] = [];
  out.push('');
  out.push(`Bosun benchmark — ${new Date().toISOString()}, ${cpus().length} CPUs, image ${busyboxImage} (${imageId.slice(0, 19)})`);
  out.push(`n=${args.n} per latency row (after ${args.warmup} warm-up each), ${args.builds} builds for throughput, concurrency ${args.concurrency}`);
  out.push(`Load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')}.`);
  out.push('NOTE: this machine is shared with other test runs; floor and Bosun runs alternate so load noise hits both, but absolute times vary run to run.');
  out.push('');
  out.push('Latency, ms (one-step build `run: "true"`; Bosun from createBuild; "container start" from the engine\'s start event)');
  const rows: string[][] = [['', 'median', 'p90', 'vs floor (median)', 'vs floor (p90)']];
  const floorRow = (l: LatencyResult | undefined) => {
    if (!l?.floor) return;
    rows.push([`floor ${l.floor.name}: end to end`, ms(l.floor.total.median), ms(l.floor.total.p90), '1.00×', '1.00×']);
    rows.push([`floor ${l.floor.name}: to container start`, ms(l.floor.toStart.median), ms(l.floor.toStart.p90), '1.00×', '1.00×']);
  };
  const bosunRows = (l: LatencyResult | undefined) => {
    if (!l) return;
    const f = l.floor;
    rows.push([`bosun ${l.executor}: trigger → step record running`, ms(l.bosun.toStepRecord.median), ms(l.bosun.toStepRecord.p90), '', '']);
    if (l.executor !== 'local') {
      rows.push([
        `bosun ${l.executor}: trigger → container start`,
        ms(l.bosun.toContainerStart.median),
        ms(l.bosun.toContainerStart.p90),
        f ? ratio(l.bosun.toContainerStart.median, f.toStart.median) : '',
        f ? ratio(l.bosun.toContainerStart.p90, f.toStart.p90) : '',
      ]);
    }
    rows.push([
      `bosun ${l.executor}: trigger → build finished`,
      ms(l.bosun.toFinished.median),
      ms(l.bosun.toFinished.p90),
      f ? ratio(l.bosun.toFinished.median, f.total.median) : '',
      f ? ratio(l.bosun.toFinished.p90, f.total.p90) : '',
    ]);
  };
  floorRow(r.swarm);
  if (r.swarm?.isolated) {
    const c = r.swarm.isolated;
    rows.push([
      "floor C: isolated one-shot service (Bosun's spec, own network + volume): end to end",
      ms(c.total.median),
      ms(c.total.p90),
      r.swarm.floor ? ratio(c.total.median, r.swarm.floor.total.median) : '',
      r.swarm.floor ? ratio(c.total.p90, r.swarm.floor.total.p90) : '',
    ]);
    rows.push([
      'floor C: … to container start',
      ms(c.toStart.median),
      ms(c.toStart.p90),
      r.swarm.floor ? ratio(c.toStart.median, r.swarm.floor.toStart.median) : '',
      r.swarm.floor ? ratio(c.toStart.p90, r.swarm.floor.toStart.p90) : '',
    ]);
  }
  bosunRows(r.swarm);
  if (r.swarm?.isolated) {
    const c = r.swarm.isolated;
    rows.push([
      'bosun swarm: trigger → build finished, vs floor C',
      ms(r.swarm.bosun.toFinished.median),
      ms(r.swarm.bosun.toFinished.p90),
      ratio(r.swarm.bosun.toFinished.median, c.total.median),
      ratio(r.swarm.bosun.toFinished.p90, c.total.p90),
    ]);
  }
  floorRow(r.docker);
  bosunRows(r.docker);
  bosunRows(r.local);
  out.push(table(rows));

  const t = r.throughput;
  if (t) {
    out.push('');
    out.push(
      `Throughput: ${t.builds} at once, concurrency ${t.concurrency} (Bosun: ${t.concurrency} in-process stage workers, swarm executor; floor: bare one-shot services in a pool of ${t.concurrency})`,
    );
    out.push(
      table([
        ['', 'wall ms', 'per build ms', 'vs floor'],
        [
          `floor: ${t.builds} bare one-shot services (mean of before ${ms(t.floorRunsMs[0]!)} / after ${ms(t.floorRunsMs[1]!)})`,
          ms(t.floorWallMs),
          ms(t.floorWallMs / t.builds),
          '1.00×',
        ],
        [
          `floor C: ${t.builds} isolated one-shot services (Bosun's spec, own network + volume)`,
          ms(t.isolatedWallMs),
          ms(t.isolatedWallMs / t.builds),
          ratio(t.isolatedWallMs, t.floorWallMs),
        ],
        [`bosun: ${t.builds} builds (swarm), all-in-one process`, ms(t.bosunWallMs), ms(t.bosunWallMs / t.builds), ratio(t.bosunWallMs, t.floorWallMs)],
        [`bosun (all-in-one) vs floor C`, '', '', ratio(t.bosunWallMs, t.isolatedWallMs)],
        ...(t.split
          ? [
              [
                `bosun: ${t.builds} builds (swarm), server + separate bosun worker`,
                ms(t.split.wallMs),
                ms(t.split.wallMs / t.builds),
                ratio(t.split.wallMs, t.floorWallMs),
              ],
              [`bosun (split) vs floor C`, '', '', ratio(t.split.wallMs, t.isolatedWallMs)],
            ]
          : []),
      ]),
    );
    out.push('');
    out.push(
      `Bosun CPU during the ${t.builds} builds: ${t.bosunCpuSec.toFixed(2)} s in its process (server + workers, in-process; includes the bench's small event reader; without the ${t.ack.latency.n} webhook acks sent meanwhile, ${t.ackCpuSec.toFixed(2)} s at ${t.cpuPerAckMs.toFixed(2)} ms each as measured on the idle server) = ${t.cpuPerBuildSec.toFixed(3)} CPU-s/build;`,
    );
    out.push(
      `  plus ${t.bosunChildCpuSec.toFixed(2)} s in its child processes (run by the process helper: git ls-remote, clone from the host mirror, and the copy into the workspace volume) = ${t.cpuPerBuildWithChildrenSec.toFixed(3)} CPU-s/build with them. (dockerd/containerd CPU is not counted.)`,
    );
    out.push(
      `Whole machine busy CPU (/proc/stat: engine, containerd, runc, Bosun, anything else running): ${t.machineCpuPerBuildSec.toFixed(3)} CPU-s per Bosun build vs ${t.machineCpuPerFloorRunSec.toFixed(3)} per bare service = ${ratio(t.machineCpuPerBuildSec, t.machineCpuPerFloorRunSec)}; per isolated service (floor C) ${t.machineCpuPerIsolatedRunSec.toFixed(3)} = ${ratio(t.machineCpuPerIsolatedRunSec, t.machineCpuPerFloorRunSec)} of floor B;`,
    );
    out.push(
      `  without Bosun's process and children: ${(t.machineCpuPerBuildSec - t.cpuPerBuildWithChildrenSec).toFixed(3)} CPU-s per build (what the engine does for Bosun's steps, networks and volumes).`,
    );
    out.push(...splitReportLines(t.split, t.splitError));
    out.push(
      `Memory of the bench process (server + HTTP + advance worker + ${t.concurrency} stage workers in it, beside the bench, dockerode and the floors; it held ${t.idle.processBaselineRssMiB.toFixed(0)} MiB RSS with all code loaded (${compiled ? 'compiled JavaScript' : 'under tsx'}), before any Bosun started):`,
    );
    out.push(
      `  fresh idle: RSS ${t.idle.freshRssMiB.toFixed(0)} MiB, heap used ${t.idle.freshHeapUsedMiB.toFixed(0)} MiB; idle after ${t.builds} builds: RSS ${t.idle.rssMiB.toFixed(0)} MiB, heap used ${t.idle.heapUsedMiB.toFixed(0)} / ${t.idle.heapTotalMiB.toFixed(0)} MiB`,
    );
  }

  const m = r.memory;
  if (m) {
    out.push('');
    out.push(
      `Memory of a real \`bosun start\` (its own process, as \`npm start\` runs it: server, HTTP, advance worker and ${m.workers} stage worker; embedded Redis), from /proc after ${m.idleSec} s idle:`,
    );
    const mib = (r: Resident) => `${r.rssMiB.toFixed(0)} / ${r.pssMiB.toFixed(0)} MiB`;
    const row = (name: string, p: ProcessTree) => [name, mib(p.bosun), mib(p.helper), `${bosunPssMiB(p).toFixed(0)} MiB`, mib(p.redis)];
    out.push(
      table([
        ['RSS / PSS', 'bosun start', 'process helper', 'Bosun total (PSS)', 'embedded redis-server'],
        row('fresh, idle', m.fresh),
        row(`after building demo#master (${m.buildStatus}), idle`, m.afterBuild),
      ]),
    );
    out.push(
      "  PSS splits the pages processes share (the node binary, libraries) among them, so the two processes' PSS add up to what they occupy; their RSS would count those pages twice.",
    );
    const c = (p: ProcessTree) => `${p.containers.count} running (${p.containers.memMiB.toFixed(0)} MiB)`;
    out.push(
      `  Run with ${Object.entries(m.env)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}; its idle containers (a warm pool's sandboxes, memory reported apart): fresh ${c(m.fresh)}, after the build ${c(m.afterBuild)}.`,
    );
  }

  out.push(...issue20Sections(r));

  const breakdownTable = (title: string, b: Record<string, Summary> | undefined) => {
    if (!b) return;
    out.push('');
    out.push(title);
    out.push(
      table([
        ['segment', 'median ms', 'p90 ms'],
        ...Object.entries(b)
          .filter(([, s]) => s.n > 0)
          .map(([k, s]) => [k, ms(s.median), ms(s.p90)]),
      ]),
    );
  };
  breakdownTable('Breakdown, one build at a time (swarm), from the build record', r.swarm?.breakdown);
  breakdownTable('Breakdown, one build at a time (docker)', r.docker?.breakdown);
  breakdownTable('Breakdown, one build at a time (local)', r.local?.breakdown);
  breakdownTable(`Breakdown, ${t?.builds ?? 0} at once (swarm; includes queueing for a worker)`, t?.breakdown);
  if (r.pieces) {
    out.push('');
    out.push('Pieces timed alone (after one warm-up)');
    out.push(table([['piece', 'n', 'median', 'p90'], ...Object.entries(r.pieces).map(([k, s]) => [k, String(s.n), ms(s.median), ms(s.p90)])]));
  }
  if (r.sandbox) out.push(...sandboxReport(r.sandbox, pass));
  out.push('');
  out.push(`Targets (issue 20), this run; ratio = figure / the reference for a relative bar, figure / bar for an absolute one`);
  out.push(targetsTable(issue20Targets(r)));
  out.push('');
  out.push(`Total bench time ${((performance.now() - benchStarted) / 1000).toFixed(0)} s. JSON: .bench/results.json`);
  console.log(out.join('\n'));

  const dir = join(checkoutRoot, '.bench');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'results.json'),
    JSON.stringify(
      {
        at: new Date().toISOString(),
        args,
        cpus: cpus().length,
        loadBefore,
        loadAfter,
        image: imageId,
        ...r,
      },
      null,
      2,
    ) + '\n',
  );
}

const notRun = (phase: string) => `phase ${phase} not run (--only)`;

/** The targets of issue 20, one each, from what this run measured. */
function issue20Targets(r: Results): Target[] {
  const out: Target[] = [];
  const p = r.pool;
  const medians = (row: PoolRow) => Object.fromEntries(Object.entries(row.segments).map(([k, v]) => [k, v.median]));
  const poolName = `docker, sandbox: stage, warm pool of ${p?.size ?? args.pool}`;
  out.push({
    name: `one-step build, ${poolName}: trigger → finished (median)`,
    value: p?.warm1?.total.median ?? NaN,
    unit: 'ms',
    cmp: 'le',
    bar: 0.35,
    reference: { value: p?.floorB.median ?? NaN, name: 'floor B' },
    ...(p?.warm1 ? { cause: largestSegment(medians(p.warm1), p.warm1.total.median) } : {}),
    ...(!p ? { unavailable: notRun('pool') } : p.unavailable ? { unavailable: p.unavailable } : {}),
  });
  out.push({
    name: 'one-step build, docker, sandbox: stage, pool empty (size 0): trigger → finished (median)',
    value: p?.empty1.total.median ?? NaN,
    unit: 'ms',
    cmp: 'le',
    bar: 1.05,
    reference: { value: p?.floorC.median ?? NaN, name: 'floor C' },
    ...(p ? { cause: largestSegment(medians(p.empty1), p.empty1.total.median) } : { unavailable: notRun('pool') }),
  });
  const five = p?.warm5 ?? p?.empty5;
  const one = p?.warm5 ? p.warm1 : p?.empty1;
  const rest = five ? Object.entries(five.segments).find(([k]) => k.startsWith('steps 2–'))?.[1].median : undefined;
  const first = five?.segments['step 1 (executor: sandbox claimed or started, exec)']?.median;
  out.push({
    name: `5-step single-stage build vs the one-step build (${p?.warm5 ? poolName : 'docker, sandbox: stage, no pool'}; median)`,
    value: five?.total.median ?? NaN,
    unit: 'ms',
    cmp: 'le',
    bar: 1.3,
    reference: { value: one?.total.median ?? NaN, name: 'the one-step build' },
    ...(five && rest !== undefined && first !== undefined
      ? { cause: `steps 2–5 took ${Math.round(rest)} ms (${Math.round(rest / 4)} ms a step) after step 1's ${Math.round(first)} ms (medians)` }
      : {}),
    ...(!p ? { unavailable: notRun('pool') } : {}),
  });
  const t = r.throughput;
  // The disjoint segments of a build in the burst (the container-start split is not measured there;
  // the whole executor step stands for it), so that their medians add up to about a build.
  const tSegments = t
    ? Object.fromEntries(
        Object.entries(t.breakdown)
          .filter(([k, v]) => !k.startsWith('step startedAt → container') && !k.startsWith('container started') && Number.isFinite(v.median))
          .map(([k, v]) => [k, v.median]),
      )
    : {};
  const tTotal = Object.values(tSegments).reduce((a, b) => a + b, 0);
  const burst = burstTargets({
    builds: args.builds,
    concurrency: args.concurrency,
    ...(t
      ? {
          a: {
            wallMs: t.bosunWallMs,
            isolatedWallMs: t.isolatedWallMs,
            wallCause: `per build, ${largestSegment(tSegments, tTotal)}`,
            cpuPerBuildSec: t.cpuPerBuildSec,
            childCpuPerBuildSec: t.bosunChildCpuSec / t.builds,
            ack: t.ack,
          },
        }
      : {}),
    ...(t?.split ? { b: t.split } : {}),
    unavailable: t ? `the split topology did not run: ${t.splitError ?? 'unknown'}` : notRun('throughput'),
  });
  out.push(burst.wall);
  const d = r.demo;
  out.push({
    name: `demo pipeline (3 steps, 2 stages) × ${args.builds}, concurrency ${args.concurrency}, sandbox: stage${d && d.stage.pool > 0 ? ` + pool of ${d.stage.pool}` : ''} vs the per-step path (docker): wall time`,
    value: d?.stage.wallMs ?? NaN,
    unit: 'ms',
    cmp: 'le',
    bar: 0.5,
    reference: { value: d?.step.wallMs ?? NaN, name: 'the per-step path' },
    ...(d
      ? {
          cause: `per build, its steps took ${Math.round(d.stage.stepsMs.median)} ms against ${Math.round(d.step.stepsMs.median)} ms per-step, its stages ${Math.round(d.stage.stagesMs.median)} against ${Math.round(d.step.stagesMs.median)} ms (medians)${d.poolUnavailable ? `; no warm pool: ${d.poolUnavailable}` : ''}`,
        }
      : { unavailable: notRun('demo') }),
  });
  out.push(burst.cpu);
  const m = r.memory;
  const pooled = m ? Math.max(m.fresh.containers.count, m.afterBuild.containers.count) > 0 : false;
  const worstPss = m ? Math.max(bosunPssMiB(m.fresh), bosunPssMiB(m.afterBuild)) : NaN;
  const memCause = m
    ? `bosun start ${Math.max(m.fresh.bosun.pssMiB, m.afterBuild.bosun.pssMiB).toFixed(0)} MiB + process helper ${Math.max(m.fresh.helper.pssMiB, m.afterBuild.helper.pssMiB).toFixed(0)} MiB (PSS)`
    : undefined;
  out.push({
    name: `idle memory of bosun start (1 worker + process helper, PSS) with a warm pool of ${args.pool}; sandboxes apart: ${m ? `${m.fresh.containers.count}, ${m.fresh.containers.memMiB.toFixed(0)} MiB` : '–'}`,
    value: worstPss,
    unit: 'MiB',
    cmp: 'le',
    bar: 150,
    ...(memCause ? { cause: memCause } : {}),
    ...(!m ? { unavailable: notRun('memory') } : !pooled ? { unavailable: 'no warm pool in this build: no idle sandbox ran' } : {}),
  });
  if (m && !pooled)
    out.push({
      name: 'idle memory of bosun start (1 worker + process helper, PSS), no pool',
      value: worstPss,
      unit: 'MiB',
      cmp: 'le',
      bar: 150,
      ...(memCause ? { cause: memCause } : {}),
    });
  out.push(burst.ack);
  const i = r.ingest;
  out.push({
    name: `signed duplicate-delivery ingest, Bosun vs a bare verify-and-dedupe server (${i?.connections ?? 16} connections)`,
    value: i ? meanRate(i.bosun) : NaN,
    unit: 'req/s',
    cmp: 'ge',
    bar: 0.85,
    reference: { value: i ? meanRate(i.bare) : NaN, name: 'the bare server' },
    ...(i
      ? { cause: `CPU per request in the server's process: Bosun ${meanCpuUs(i.bosun).toFixed(0)} µs, bare ${meanCpuUs(i.bare).toFixed(0)} µs` }
      : { unavailable: notRun('ingest') }),
  });
  return out;
}

/** The issue-20 phases' own tables (pool, demo, ingest, webhook acks). */
function issue20Sections(r: Results): string[] {
  const out: string[] = [];
  const p = r.pool;
  if (p) {
    out.push('');
    out.push(
      `Warm pool (docker executor, sandbox: stage, sandboxPool.size ${p.size}): trigger → build finished, ms, one build at a time, taking turns with floors B and C; 1-min load ${p.load[0].toFixed(2)} → ${p.load[1].toFixed(2)}`,
    );
    if (p.unavailable) out.push(`  warm pool: not available (${p.unavailable})`);
    const rows: string[][] = [['', 'median', 'p90', 'vs floor B', 'vs floor C']];
    const line = (name: string, s: Summary) => rows.push([name, ms(s.median), ms(s.p90), ratio(s.median, p.floorB.median), ratio(s.median, p.floorC.median)]);
    line('floor B: bare one-shot service', p.floorB);
    line("floor C: isolated one-shot service (Bosun's spec)", p.floorC);
    if (p.warm1) line(`bosun, warm pool of ${p.size}: 1 step`, p.warm1.total);
    if (p.warm5) line(`bosun, warm pool of ${p.size}: 5 steps`, p.warm5.total);
    line('bosun, pool empty: 1 step', p.empty1.total);
    line('bosun, pool empty: 5 steps', p.empty5.total);
    out.push(table(rows));
    for (const [name, row] of [
      [`warm pool, 1 step`, p.warm1],
      ['pool empty, 1 step', p.empty1],
      ['pool empty, 5 steps', p.empty5],
    ] as const) {
      if (!row) continue;
      out.push('');
      out.push(`Breakdown, ${name} (from the build record)`);
      out.push(table([['segment', 'median ms', 'p90 ms'], ...Object.entries(row.segments).map(([k, s]) => [k, ms(s.median), ms(s.p90)])]));
    }
  }
  const d = r.demo;
  if (d) {
    out.push('');
    out.push(`Demo pipeline (examples/demo: 2 stages, 3 steps) × ${d.builds}, queued at once, ${d.concurrency} workers, docker executor`);
    const row = (name: string, x: DemoResult['step']) => [
      name,
      ms(x.wallMs),
      ms(x.perBuild.median),
      ms(x.stepsMs.median),
      ms(x.stagesMs.median),
      ratio(x.wallMs, d.step.wallMs),
    ];
    out.push(
      table([
        ['', 'wall ms', 'per build (median)', 'its steps (median)', 'its stages (median)', 'vs per-step'],
        row('sandbox: step (a container per step)', d.step),
        row(`sandbox: stage${d.stage.pool > 0 ? `, warm pool of ${d.stage.pool}` : ''}`, d.stage),
      ]),
    );
    if (d.poolUnavailable) out.push(`  no warm pool: ${d.poolUnavailable}`);
  }
  const a = r.throughput?.ack;
  if (a) {
    out.push('');
    out.push(ackLine('all-in-one (server and workers in one process)', r.throughput!.builds, a));
    const sa = r.throughput!.split?.ack;
    if (sa) out.push(ackLine('split (server apart from the bosun worker process)', r.throughput!.builds, sa));
  }
  const i = r.ingest;
  if (i) {
    out.push('');
    out.push(
      `Signed duplicate-delivery ingest: ${i.rounds} rounds of ${i.seconds} s each, ${i.connections} keep-alive connections from a separate node process`,
    );
    const row = (name: string, x: IngestSide) => [name, x.reqPerSec.map((v) => v.toFixed(0)).join(' / '), meanRate(x).toFixed(0), meanCpuUs(x).toFixed(0)];
    out.push(
      table([
        ['', 'req/s per round', 'mean req/s', 'server CPU µs/req'],
        row('bare verify-and-dedupe (node:http, HMAC, Redis SET NX)', i.bare),
        row('bosun POST /github/webhooks', i.bosun),
      ]),
    );
  }
  return out;
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type Docker from 'dockerode';
import { BosunRig, type BuildTiming } from './bosun-rig.js';
import type { LoopReading } from './loop-probe.js';
import { summarize, type Summary } from './stats.js';
import { ackSender } from './webhook-load.js';
import { startWorkerProcess } from './worker-process.js';

/** Nearest-rank percentile. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Webhook acks during a burst, from the separate client process, and the server process's event-loop delay meanwhile. */
export interface BurstAck {
  latency: Summary & { p50: number; p99: number };
  statuses: Record<string, number>;
  /** Event-loop delay of the process that serves the webhook route, during the burst, ms. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

export function burstAck(latenciesMs: number[], statuses: Record<string, number>, loop: { p99Ms: number; maxMs: number }): BurstAck {
  return {
    latency: { ...summarize(latenciesMs), p50: percentile(latenciesMs, 50), p99: percentile(latenciesMs, 99) },
    statuses,
    loopDelayP99Ms: loop.p99Ms,
    loopDelayMaxMs: loop.maxMs,
  };
}

/**
 * The burst as deployed for real: the bench process runs the server (HTTP, front ends, API) of
 * a Bosun with `workers: 0`, as `bosun start --workers 0` does, and a separate `bosun worker
 * --concurrency <n>` process (bench/worker-process.ts) runs the advance worker and the `n`
 * stage workers against the same Redis.
 */
export interface SplitBurst {
  builds: number;
  concurrency: number;
  wallMs: number;
  /** CPU-s of the server's process (the bench process) during the burst, the acks' CPU taken out (at least 0). */
  serverCpuSec: number;
  /** CPU-s of the bench process's child processes meanwhile (none of Bosun's in this topology: expected ~0). */
  serverChildCpuSec: number;
  /** CPU-s of the worker process itself during the burst (advance and stage workers). */
  workerCpuSec: number;
  /** CPU-s of the worker's child processes (process helper: git, workspace copies) during the burst. */
  workerChildCpuSec: number;
  machineCpuSec: number;
  ack: BurstAck;
  ackCpuSec: number;
  /** The worker process's event-loop delay during the burst (compiled bench only). */
  workerLoop?: LoopReading;
  timings: BuildTiming[];
  workerPid: number;
}

export async function splitBurst(opts: {
  docker: Docker;
  instanceId: string;
  builds: number;
  concurrency: number;
  github: Record<string, unknown>;
  secret: string;
  /** What one webhook ack costs the server's process (measured on the idle all-in-one rig: the same route and code). */
  cpuPerAckSec: number;
  machineCpuSec: () => number;
  childCpuSec: () => number;
  gc: () => void;
  progress: (text: string) => void;
}): Promise<SplitBurst> {
  const rig = await BosunRig.start('swarm', { docker: opts.docker, instanceId: opts.instanceId, workers: 0, config: { github: opts.github } });
  const worker = startWorkerProcess({ config: rig.serverConfig, concurrency: opts.concurrency, redisUrl: rig.harness.redis.url });
  try {
    opts.progress(`throughput (split): bosun worker --concurrency ${opts.concurrency} in its own process (pid ${worker.pid}); a warm-up build`);
    const warm = await rig.trigger();
    await rig.finished(warm.id, 120_000).catch((err: unknown) => {
      throw new Error(`the warm-up build on the separate bosun worker did not finish: ${String(err)}\n${worker.output()}`);
    });
    await rig.cleanupBuild(warm.id);
    opts.progress(
      `throughput (split): ${opts.builds} builds queued at once, ${opts.concurrency} stage workers in the worker process, webhook acks from a separate process`,
    );
    opts.gc();
    const acks = await ackSender({ url: `${rig.harness.url}/github/webhooks`, secret: opts.secret, intervalMs: 20 });
    const profile = await serverProfile();
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    await worker.loopDelay(); // starts the worker's reading afresh
    const cpu0 = process.cpuUsage();
    const child0 = opts.childCpuSec();
    const worker0 = worker.cpuSec();
    const machine0 = opts.machineCpuSec();
    const b0 = performance.now();
    const triggered = await Promise.all(Array.from({ length: opts.builds }, () => rig.trigger()));
    await Promise.all(triggered.map((t) => rig.finished(t.id, 120_000 + opts.builds * 6_000)));
    const wallMs = performance.now() - b0;
    const cpu = process.cpuUsage(cpu0);
    const childCpu = opts.childCpuSec() - child0;
    const worker1 = worker.cpuSec();
    const machineCpu = opts.machineCpuSec() - machine0;
    const workerLoop = await worker.loopDelay();
    loop.disable();
    await profile?.stop();
    const ackReport = await acks.stop();
    const ack = burstAck(ackReport.latenciesMs, ackReport.statuses, { p99Ms: loop.percentile(99) / 1e6, maxMs: loop.max / 1e6 });
    const timings = await Promise.all(triggered.map((t) => rig.timing(t.id, t.t0, undefined)));
    const failed = timings.filter((t) => t.status !== 'success');
    if (failed.length > 0)
      throw new Error(`${failed.length} of the ${opts.builds} builds (split) did not succeed: ${failed.map((f) => `#${f.id} ${f.status}`).join(', ')}`);
    opts.progress('throughput (split): cleaning up the builds (not timed)');
    for (const t of triggered) await rig.cleanupBuild(t.id);
    const ackCpuSec = opts.cpuPerAckSec * ack.latency.n;
    return {
      builds: opts.builds,
      concurrency: opts.concurrency,
      wallMs,
      // The acks' CPU is an estimate from the idle server: on a loaded machine it can exceed what
      // the server process used besides them, so the difference is held at 0.
      serverCpuSec: Math.max(0, (cpu.user + cpu.system) / 1e6 - ackCpuSec),
      serverChildCpuSec: childCpu,
      workerCpuSec: worker1.self - worker0.self,
      workerChildCpuSec: worker1.descendants - worker0.descendants,
      machineCpuSec: machineCpu,
      ack,
      ackCpuSec,
      ...(workerLoop ? { workerLoop } : {}),
      timings,
      workerPid: worker.pid,
    };
  } finally {
    await worker.stop();
    await rig.stop();
  }
}

/**
 * With `BOSUN_BENCH_SERVER_PROF=<dir>`, a CPU profile of the bench process (the server's, in
 * this topology) during the split burst, written to `<dir>/server-<pid>.cpuprofile`.
 */
async function serverProfile(): Promise<{ stop(): Promise<void> } | undefined> {
  const dir = process.env.BOSUN_BENCH_SERVER_PROF;
  if (!dir) return undefined;
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    async stop() {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(join(dir, `server-${process.pid}.cpuprofile`), JSON.stringify(profile));
      session.disconnect();
    },
  };
}

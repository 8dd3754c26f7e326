import type { SplitBurst, BurstAck } from './split-burst.js';
import type { Target } from './targets.js';

/** The all-in-one burst's figures the rows need (bench/run.ts's throughput phase). */
export interface AllInOneBurst {
  wallMs: number;
  /** Floor C: the same number of isolated one-shot services, same pool. */
  isolatedWallMs: number;
  /** The measured cause of a wall-time miss (the build segment that took most). */
  wallCause: string;
  /** CPU-s per build of the one process (server and workers; acks taken out), and of its child processes. */
  cpuPerBuildSec: number;
  childCpuPerBuildSec: number;
  ack: BurstAck;
}

export interface BurstRows {
  wall: Target;
  cpu: Target;
  ack: Target;
}

const ms1 = (x: number) => `${x.toFixed(1)} ms`;

/**
 * The three targets of the burst, from the two topologies the throughput phase runs:
 * (a) all-in-one — server, advance worker and the stage workers in one process, as
 * `bosun start` with in-process workers runs them; (b) split, as deployed for real —
 * `bosun start --workers 0` (front ends) and a separate `bosun worker` process.
 *
 * - wall time keeps its definition: (a), the topology the target was set on and the harder one
 *   for Bosun's process (everything shares one event loop); (b)'s wall time is in the cause.
 * - CPU per build and the webhook ack p99 use (b): as deployed, the worker process's CPU and
 *   its child processes' count, and the acks are served by a process without stage workers.
 *   (a)'s figures are named beside them.
 */
export function burstTargets(i: { builds: number; concurrency: number; a?: AllInOneBurst; b?: SplitBurst; unavailable?: string }): BurstRows {
  const { a, b, builds, concurrency } = i;
  const why = i.unavailable ?? 'not measured';
  const splitWall = b && a ? `; split (bosun worker apart): ${Math.round(b.wallMs)} ms = ${(b.wallMs / a.isolatedWallMs).toFixed(2)}× floor C` : '';
  const wall: Target = {
    name: `${builds} builds at once, concurrency ${concurrency} (swarm), all-in-one (server + workers in one process): wall time`,
    value: a?.wallMs ?? NaN,
    unit: 'ms',
    cmp: 'le',
    bar: 1.05,
    reference: { value: a?.isolatedWallMs ?? NaN, name: `floor C × ${builds}` },
    ...(a ? { cause: `${a.wallCause}${splitWall}` } : { unavailable: why }),
  };
  const perBuild = (x: number) => (b ? x / b.builds : NaN);
  const cpuValue = b ? perBuild(b.serverCpuSec + b.serverChildCpuSec + b.workerCpuSec + b.workerChildCpuSec) : NaN;
  const allInOneCpu = a ? `; all-in-one: ${(a.cpuPerBuildSec + a.childCpuPerBuildSec).toFixed(3)}` : '';
  const cpu: Target = {
    name: "Bosun's CPU per build as deployed: server process + bosun worker process, and their child processes (git, workspace copy)",
    value: cpuValue,
    unit: 'CPU-s',
    cmp: 'le',
    bar: 0.03,
    ...(b
      ? {
          cause: `server process ${perBuild(b.serverCpuSec + b.serverChildCpuSec).toFixed(3)} (webhook acks' CPU taken out), worker process ${perBuild(b.workerCpuSec).toFixed(3)}, its child processes ${perBuild(b.workerChildCpuSec).toFixed(3)} CPU-s/build${allInOneCpu}`,
        }
      : { unavailable: why }),
  };
  const workerLoop = b?.workerLoop ? `; the worker process's: p99 ${ms1(b.workerLoop.p99)}, max ${Math.round(b.workerLoop.max)} ms` : '';
  const ack: Target = {
    name: `webhook ack p99 during the ${builds}-build burst, as deployed (server apart from the bosun worker process), separate client process${
      b ? ` (p50 ${b.ack.latency.p50.toFixed(1)} ms, ${b.ack.latency.n} deliveries${a ? `; all-in-one: p99 ${Math.round(a.ack.latency.p99)} ms` : ''})` : ''
    }`,
    value: b?.ack.latency.p99 ?? NaN,
    unit: 'ms',
    cmp: 'le',
    bar: 25,
    ...(b
      ? {
          cause: `event-loop delay in the server process during the burst: p99 ${ms1(b.ack.loopDelayP99Ms)}, max ${Math.round(b.ack.loopDelayMaxMs)} ms${workerLoop}`,
        }
      : { unavailable: why }),
  };
  return { wall, cpu, ack };
}

/** The report's lines on the split burst (or why it did not run). */
export function splitReportLines(b: SplitBurst | undefined, error: string | undefined): string[] {
  if (!b) return error ? [`Split topology (server + separate bosun worker): did not run: ${error}`] : [];
  const per = (x: number) => (x / b.builds).toFixed(3);
  const lines = [
    `Split topology, as deployed: the bench process ran the server (workers: 0, as bosun start --workers 0) and a separate \`bosun worker --concurrency ${b.concurrency}\` process (pid ${b.workerPid}) the advance worker and the stage workers, same Redis.`,
    `  CPU during its ${b.builds} builds: server process ${b.serverCpuSec.toFixed(2)} s (the ${b.ack.latency.n} webhook acks' ${b.ackCpuSec.toFixed(2)} s taken out) + its child processes ${b.serverChildCpuSec.toFixed(2)} s; worker process ${b.workerCpuSec.toFixed(2)} s + its child processes (process helper: git, workspace copy) ${b.workerChildCpuSec.toFixed(2)} s`,
    `  = ${per(b.serverCpuSec + b.serverChildCpuSec + b.workerCpuSec + b.workerChildCpuSec)} CPU-s/build (server ${per(b.serverCpuSec + b.serverChildCpuSec)}, worker ${per(b.workerCpuSec)}, worker's children ${per(b.workerChildCpuSec)}); whole machine ${per(b.machineCpuSec)} CPU-s/build.`,
  ];
  if (b.workerLoop)
    lines.push(
      `  Event-loop delay of the worker process during the burst: p50 ${ms1(b.workerLoop.p50)}, p99 ${ms1(b.workerLoop.p99)}, max ${ms1(b.workerLoop.max)}; of the server process: p99 ${ms1(b.ack.loopDelayP99Ms)}, max ${ms1(b.ack.loopDelayMaxMs)}.`,
    );
  return lines;
}

/** The report's line on the webhook acks of one burst. */
export function ackLine(topology: string, builds: number, a: BurstAck): string {
  return `Webhook acks during the ${builds}-build burst, ${topology} (a separate node process, one signed push delivery every 20 ms, each a new id): p50 ${a.latency.p50.toFixed(1)} ms, p90 ${a.latency.p90.toFixed(1)}, p99 ${a.latency.p99.toFixed(1)}, max ${a.latency.max.toFixed(1)} ms over ${a.latency.n}; statuses ${JSON.stringify(a.statuses)}; event-loop delay of the process serving them p99 ${ms1(a.loopDelayP99Ms)}, max ${ms1(a.loopDelayMaxMs)}`;
}

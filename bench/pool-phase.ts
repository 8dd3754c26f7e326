import { loadavg } from 'node:os';
import type Docker from 'dockerode';
import type { Build } from '../src/domain/build.js';
import { BosunRig, stepsSpec } from './bosun-rig.js';
import { IsolatedFloor, bareServiceOnce } from './floor.js';
import { runningContainers } from './process-memory.js';
import { summarize, type Summary } from './stats.js';

/** Medians of one build's timeline, segment by segment (single-stage builds). */
export type Segments = Record<string, Summary>;

export interface PoolRow {
  /** Trigger → build finished, ms. */
  total: Summary;
  segments: Segments;
}

export interface PoolResult {
  /** The pool size asked for (`sandboxPool.size`). */
  size: number;
  /** Why there is no warm-pool row (the server refused the key, or no sandbox was ever pre-created); undefined: there is one. */
  unavailable?: string;
  floorB: Summary;
  floorC: Summary;
  /** docker executor, `sandbox: stage`, a warm pool of `size`: one step, and 5 steps. */
  warm1?: PoolRow;
  warm5?: PoolRow;
  /** The same without a pool (size 0). */
  empty1: PoolRow;
  empty5: PoolRow;
  load: [number, number];
}

/** The image of the phase's builds, which the pool must keep warm (`sandboxPool.images`). */
const busyboxImage = 'bosun/busybox:1';

const at = (iso: string | undefined) => (iso ? Date.parse(iso) : NaN);

/** One single-stage build's timeline, trigger to finished, as named segments in ms. */
export function segmentsOf(b: Build, t0: number): Record<string, number> {
  const stage = b.stages[0];
  const steps = stage?.steps ?? [];
  const first = steps[0];
  const last = steps[steps.length - 1];
  const out: Record<string, number> = {
    'trigger → created (ls-remote, create)': at(b.createdAt) - t0,
    'created → build started (advance hop, checkout, spec)': at(b.startedAt) - at(b.createdAt),
    'build started → stage started (stage job hop)': at(stage?.startedAt) - at(b.startedAt),
    'stage started → step 1 started (workspace, log reset)': at(first?.startedAt) - at(stage?.startedAt),
    'step 1 (executor: sandbox claimed or started, exec)': at(first?.finishedAt) - at(first?.startedAt),
  };
  if (steps.length > 1) out[`steps 2–${steps.length} (execs in the sandbox)`] = at(last?.finishedAt) - at(steps[1]?.startedAt);
  out['last step finished → stage finished'] = at(stage?.finishedAt) - at(last?.finishedAt);
  out['stage finished → build finished (advance hop)'] = at(b.finishedAt) - at(stage?.finishedAt);
  return out;
}

function rowOf(samples: { total: number; segments: Record<string, number> }[]): PoolRow {
  const names = Object.keys(samples[0]?.segments ?? {});
  return {
    total: summarize(samples.map((s) => s.total)),
    segments: Object.fromEntries(names.map((n) => [n, summarize(samples.map((s) => s.segments[n] ?? NaN))])),
  };
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 200);
}

async function until(cond: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

/**
 * The warm pool (issue 20): one-step and 5-step builds on the docker executor with
 * `sandbox: stage`, with a warm pool of `size` (server config `sandboxPool: { size }`, made
 * into the executor by the server itself, as `bosun start` does) and without one (size 0),
 * taking turns with floor B and floor C, one build at a time. Before each warm-pool build the
 * bench waits (≤ 15 s) until `size` idle sandboxes of that Bosun run, so the row is a warm pool's.
 * When the server refuses the key, or no sandbox is ever pre-created, the warm rows are left out
 * and `unavailable` says why.
 */
export async function poolPhase(
  docker: Docker,
  imageId: string,
  benchId: string,
  opts: { n: number; warmup: number; size: number; progress: (text: string) => void },
): Promise<PoolResult> {
  const loadStart = loadavg()[0]!;
  const moreRepos = { bench5: stepsSpec(5) };
  const common = { docker, workers: 1, sandbox: 'stage' as const, spec: stepsSpec(1), moreRepos, serverExecutor: true };
  const warmId = `${benchId}-wpool`;
  let warm: BosunRig | undefined;
  let unavailable: string | undefined;
  let empty: BosunRig | undefined;
  const iso = new IsolatedFloor(docker, imageId, benchId);
  try {
    try {
      warm = await BosunRig.start('docker', { ...common, instanceId: warmId, config: { sandboxPool: { size: opts.size, images: [busyboxImage] } } });
    } catch (err) {
      unavailable = `no warm pool in this build: the server refused the key sandboxPool`;
      opts.progress(`pool: ${firstLine(err)}`);
    }
    empty = await BosunRig.start('docker', { ...common, instanceId: `${benchId}-epool`, config: warm ? { sandboxPool: { size: 0 } } : {} });
    const one = async (rig: BosunRig, repo: string) => {
      const { id, t0 } = await rig.trigger(repo);
      await rig.finished(id);
      const b = await rig.harness.server.core.store.require(id);
      if (b.status !== 'success') throw new Error(`pool phase: build #${id} (${rig.instanceId}, ${repo}) ended ${b.status}`);
      await rig.cleanupBuild(id);
      return { total: at(b.finishedAt) - t0, segments: segmentsOf(b, t0) };
    };
    const idleSandboxes = async () => (await runningContainers(docker, warmId)).count;
    const warmOne = async (repo: string) => {
      await until(async () => (await idleSandboxes()) >= opts.size, 15_000);
      return one(warm!, repo);
    };
    let seq = 0;
    const floorB = () => bareServiceOnce(docker, imageId, benchId, `pb${process.pid}-${seq++}`).then((r) => r.totalMs);
    const floorC = () => iso.once(`pc${process.pid}-${seq++}`).then((r) => r.totalMs);

    opts.progress(`pool: warm-up (${opts.warmup} each)`);
    for (let i = 0; i < opts.warmup; i++) {
      await floorB();
      await floorC();
      for (const repo of ['bench', 'bench5']) {
        if (warm) await one(warm, repo);
        await one(empty, repo);
      }
    }
    if (warm) {
      opts.progress(`pool: waiting (≤ 60 s) for the pool of ${opts.size} to hold an idle sandbox`);
      if (!(await until(async () => (await idleSandboxes()) >= 1, 60_000))) {
        unavailable = `no warm pool in this build: sandboxPool accepted, but no idle sandbox of this Bosun ran after the warm-up`;
        await warm.stop().catch(() => undefined);
        warm = undefined;
      }
    }
    const samples = { b: [] as number[], c: [] as number[], w1: [] as Awaited<ReturnType<typeof one>>[], w5: [] as Awaited<ReturnType<typeof one>>[] };
    const e1: Awaited<ReturnType<typeof one>>[] = [];
    const e5: Awaited<ReturnType<typeof one>>[] = [];
    for (let i = 0; i < opts.n; i++) {
      samples.b.push(await floorB());
      samples.c.push(await floorC());
      if (warm) {
        samples.w1.push(await warmOne('bench'));
        samples.w5.push(await warmOne('bench5'));
      }
      e1.push(await one(empty, 'bench'));
      e5.push(await one(empty, 'bench5'));
      if ((i + 1) % 5 === 0 || i + 1 === opts.n) opts.progress(`pool: ${i + 1}/${opts.n}`);
    }
    return {
      size: opts.size,
      ...(unavailable ? { unavailable } : {}),
      floorB: summarize(samples.b),
      floorC: summarize(samples.c),
      ...(warm ? { warm1: rowOf(samples.w1), warm5: rowOf(samples.w5) } : {}),
      empty1: rowOf(e1),
      empty5: rowOf(e5),
      load: [loadStart, loadavg()[0]!],
    };
  } finally {
    await warm?.stop().catch(() => undefined);
    await empty?.stop().catch(() => undefined);
    await iso.sweep().catch(() => undefined);
  }
}

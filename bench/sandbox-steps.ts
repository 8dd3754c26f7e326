import { loadavg } from 'node:os';
import type Docker from 'dockerode';
import type { SandboxMode } from '../src/executor/container/sandbox-mode.js';
import { BosunRig, stepsSpec, type ExecutorKind } from './bosun-rig.js';
import { ms, ratio, summarize, table, type Summary } from './stats.js';

/** One row of the sandbox phase: an executor, a sandbox mode, a number of steps. */
export interface SandboxRow {
  kind: ExecutorKind;
  sandbox: SandboxMode;
  steps: number;
  /** Trigger → build finished, ms. */
  total: Summary;
}

export interface SandboxResult {
  rows: SandboxRow[];
  /** The 1-minute load average at the start and the end of the phase. */
  load: [number, number];
}

/**
 * `sandbox: step` against `sandbox: stage` (docs/sandbox.md) on one engine, in one run: a
 * one-step and a 5-step single-stage build (`run: "true"` each) on each executor in each mode,
 * triggered through `createBuild`, one build at a time, the rigs taking turns so that load from
 * other processes hits every row alike. The targets are ratios within this run.
 */
export async function sandboxPhase(
  docker: Docker,
  benchId: string,
  opts: { n: number; warmup: number; kinds: ExecutorKind[]; progress: (text: string) => void },
): Promise<SandboxResult> {
  const loadStart = loadavg()[0]!;
  const rigs: { kind: ExecutorKind; sandbox: SandboxMode; steps: number; rig: BosunRig; times: number[] }[] = [];
  try {
    for (const kind of opts.kinds)
      for (const sandbox of ['step', 'stage'] as const)
        for (const steps of [1, 5]) {
          const instanceId = `${benchId}-${kind[0]}${sandbox === 'stage' ? 'g' : 'p'}${steps}`;
          rigs.push({ kind, sandbox, steps, rig: await BosunRig.start(kind, { docker, instanceId, workers: 1, sandbox, spec: stepsSpec(steps) }), times: [] });
        }
    for (let i = 0; i < opts.warmup + opts.n; i += 1) {
      for (const r of rigs) {
        const { id, t0 } = await r.rig.trigger();
        await r.rig.finished(id);
        const b = await r.rig.harness.server.core.store.require(id);
        if (b.status !== 'success') throw new Error(`bench build #${id} (${r.kind}, sandbox ${r.sandbox}, ${r.steps} steps) ended ${b.status}`);
        if (i >= opts.warmup) r.times.push(Date.parse(b.finishedAt ?? '') - t0);
        await r.rig.cleanupBuild(id);
      }
      opts.progress(`sandbox: round ${i + 1}/${opts.warmup + opts.n}`);
    }
  } finally {
    for (const r of rigs) await r.rig.stop().catch(() => undefined);
  }
  return { rows: rigs.map((r) => ({ kind: r.kind, sandbox: r.sandbox, steps: r.steps, total: summarize(r.times) })), load: [loadStart, loadavg()[0]!] };
}

/** The phase's table and its targets (5 steps ≤ 1.3× one step with `stage`). */
export function sandboxReport(r: SandboxResult, pass: (ok: boolean) => string): string[] {
  const out: string[] = [];
  out.push('');
  out.push(
    `Sandbox per stage (docs/sandbox.md): trigger → build finished, ms, one build at a time; 1-min load ${r.load[0].toFixed(2)} → ${r.load[1].toFixed(2)}`,
  );
  const find = (kind: ExecutorKind, sandbox: SandboxMode, steps: number) => r.rows.find((x) => x.kind === kind && x.sandbox === sandbox && x.steps === steps);
  const rows: string[][] = [['', 'median', 'p90', 'vs 1 step, same mode', 'vs sandbox: step, same steps']];
  for (const row of r.rows) {
    const one = find(row.kind, row.sandbox, 1)!;
    const perStep = find(row.kind, 'step', row.steps)!;
    rows.push([
      `${row.kind}, sandbox: ${row.sandbox}, ${row.steps} step${row.steps > 1 ? 's' : ''}`,
      ms(row.total.median),
      ms(row.total.p90),
      ratio(row.total.median, one.total.median),
      ratio(row.total.median, perStep.total.median),
    ]);
  }
  out.push(table(rows));
  for (const kind of new Set(r.rows.map((x) => x.kind))) {
    const five = find(kind, 'stage', 5);
    const one = find(kind, 'stage', 1);
    if (!five || !one) continue;
    const x = five.total.median / one.total.median;
    out.push(`target ${kind}: 5-step build ≤ 1.3× the one-step build with sandbox: stage: ${x.toFixed(2)}× ${pass(x <= 1.3)}`);
  }
  return out;
}

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { seedDemoRepo } from '../src/app/seed-demo-repo.js';
import type { Build } from '../src/domain/build.js';
import { BosunRig } from './bosun-rig.js';
import { pool, summarize, type Summary } from './stats.js';

export interface DemoRun {
  /** `step`: a container per step; `stage`: a sandbox per stage (with the warm pool when `pool` > 0). */
  sandbox: 'step' | 'stage';
  pool: number;
  wallMs: number;
  /** Per build, trigger → finished, ms (includes waiting for one of the workers). */
  perBuild: Summary;
  /** Per build, the sum of its steps' durations (step record start → finish), ms. */
  stepsMs: Summary;
  /** Per build, the sum of its stages' durations, ms. */
  stagesMs: Summary;
}

export interface DemoResult {
  builds: number;
  concurrency: number;
  step: DemoRun;
  stage: DemoRun;
  /** Why the stage run had no warm pool, when it had none. */
  poolUnavailable?: string;
}

const at = (iso: string | undefined) => (iso ? Date.parse(iso) : NaN);
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/**
 * The bundled demo pipeline (examples/demo: stages `test` with 2 steps and `e2e` with 1, on
 * bosun/base:bookworm) built `builds` times, all queued at once, `concurrency` stage workers,
 * docker executor: first on the per-step path (`sandbox: step`), then with a sandbox per stage
 * and the warm pool (`sandbox: stage`, `sandboxPool.size = poolSize` when the server takes it).
 * Each run's wall time, trigger of the first to the end of the last.
 */
export async function demoPhase(
  docker: Docker,
  benchId: string,
  opts: { builds: number; concurrency: number; poolSize: number; progress: (text: string) => void },
): Promise<DemoResult> {
  const root = mkdtempSync(join(tmpdir(), 'bosun-bench-demo-'));
  try {
    const repoUrl = await seedDemoRepo(root);
    const run = async (sandbox: 'step' | 'stage', poolSize: number): Promise<DemoRun> => {
      const rig = await BosunRig.start('docker', {
        docker,
        instanceId: `${benchId}-demo-${sandbox}`,
        workers: opts.concurrency,
        sandbox,
        repoUrl,
        serverExecutor: true,
        config: poolSize > 0 ? { sandboxPool: { size: poolSize, images: ['bosun/base:bookworm'] } } : {},
      });
      try {
        opts.progress(`demo: warm-up (sandbox: ${sandbox}${poolSize > 0 ? `, pool ${poolSize}` : ''})`);
        const w = await rig.trigger();
        await rig.finished(w.id, 300_000);
        await rig.cleanupBuild(w.id);
        opts.progress(`demo: ${opts.builds} builds of the demo pipeline queued at once, ${opts.concurrency} workers, sandbox: ${sandbox}`);
        const t0 = performance.now();
        const triggered = await Promise.all(Array.from({ length: opts.builds }, () => rig.trigger()));
        await Promise.all(triggered.map((t) => rig.finished(t.id, 300_000 + opts.builds * 10_000)));
        const wallMs = performance.now() - t0;
        const builds: [Build, number][] = await Promise.all(
          triggered.map(async (t) => [await rig.harness.server.core.store.require(t.id), t.t0] as [Build, number]),
        );
        const failed = builds.filter(([b]) => b.status !== 'success');
        if (failed.length > 0)
          throw new Error(
            `demo: ${failed.length} of ${opts.builds} builds (sandbox: ${sandbox}) did not succeed: ${failed.map(([b]) => `#${b.id} ${b.status}`).join(', ')}`,
          );
        await pool(4, triggered.length, (i) => rig.cleanupBuild(triggered[i]!.id));
        const ran = (b: Build) => b.stages.filter((s) => s.startedAt && s.finishedAt);
        return {
          sandbox,
          pool: poolSize,
          wallMs,
          perBuild: summarize(builds.map(([b, t]) => at(b.finishedAt) - t)),
          stepsMs: summarize(
            builds.map(([b]) =>
              sum(
                ran(b)
                  .flatMap((s) => s.steps.map((x) => at(x.finishedAt) - at(x.startedAt)))
                  .filter(Number.isFinite),
              ),
            ),
          ),
          stagesMs: summarize(builds.map(([b]) => sum(ran(b).map((s) => at(s.finishedAt) - at(s.startedAt))))),
        };
      } finally {
        await rig.stop();
      }
    };
    const step = await run('step', 0);
    let stage: DemoRun;
    let poolUnavailable: string | undefined;
    try {
      stage = await run('stage', opts.poolSize);
    } catch (err) {
      if (opts.poolSize === 0 || !/sandboxPool/i.test(String(err))) throw err;
      poolUnavailable = 'the server refused sandboxPool';
      stage = await run('stage', 0);
    }
    return { builds: opts.builds, concurrency: opts.concurrency, step, stage, ...(poolUnavailable ? { poolUnavailable } : {}) };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/**
 * A rough measure of the warm pool (docs/pool.md), not the bench: a one-step build (`true`) on
 * the docker executor with `sandbox: stage`, from `start` to the step's end (output drained),
 * without a pool and with a ready one (the pool refilled before each build, as in steady
 * state). Each build is cleaned up afterwards, outside the timing. Medians of RUNS (default 12).
 *
 *   node --import tsx scripts/measure-pool.ts [image]
 */
import Docker from 'dockerode';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerExecutor } from '../src/executor/docker/docker-executor.js';
import { labelKeys } from '../src/executor/executor.js';
import { silentLogger } from '../src/logger.js';

const image = process.argv[2] ?? 'bosun/busybox:1';
const runs = Number(process.env.RUNS ?? '12');
const limits = { cpus: 1, memoryBytes: 256 * 2 ** 20, pids: 256 };
const docker = new Docker();
const workspace = mkdtempSync(join(tmpdir(), 'bosun-measure-pool-'));
writeFileSync(join(workspace, 'README'), 'x\n');
execFileSync('git', ['init', '-q'], { cwd: workspace });

async function measure(pool: boolean): Promise<number[]> {
  const instanceId = `measure-${process.pid}-${pool ? 'p' : 'c'}`;
  const executor = new DockerExecutor({
    docker,
    instanceId,
    log: silentLogger(),
    sandbox: 'stage',
    ...(pool ? { pool: { size: 1, images: [image], idleSec: 600, limits } } : {}),
  });
  const times: number[] = [];
  try {
    for (let i = 0; i < runs + 1; i += 1) {
      await executor.warmPool?.settled();
      const buildId = `m${i}`;
      const t0 = performance.now();
      const handle = await executor.start({
        buildId,
        stage: 'test',
        step: 'one',
        image,
        commands: ['true'],
        env: {},
        workspace,
        workdir: '.',
        timeoutSec: 60,
        limits,
        labels: { [labelKeys.build]: buildId, [labelKeys.stage]: 'test', [labelKeys.step]: 'one' },
      });
      for await (const chunk of handle.output) void chunk;
      const outcome = await handle.wait();
      const ms = performance.now() - t0;
      if (outcome.exitCode !== 0) throw new Error(`the step failed: ${JSON.stringify(outcome)}`);
      if (pool && !/warm sandbox/.test(handle.where ?? '')) throw new Error(`not claimed: ${handle.where}`);
      await handle.destroy();
      await executor.endStage(buildId, 'test');
      await executor.cleanupBuild(buildId);
      if (i > 0) times.push(ms); // the first is a warm-up
    }
  } finally {
    await executor.close();
  }
  return times;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const cold = await measure(false);
const warm = await measure(true);
const line = (name: string, xs: number[]) =>
  `${name.padEnd(28)} median ${median(xs).toFixed(0).padStart(5)} ms   min ${Math.min(...xs).toFixed(0)}   max ${Math.max(...xs).toFixed(0)}   (n=${xs.length})`;
console.log(`one-step build (${image}), executor start → step ended, sandbox: stage`);
console.log(line('cold (no pool)', cold));
console.log(line('warm (claimed from the pool)', warm));
console.log(`ratio warm/cold: ${(median(warm) / median(cold)).toFixed(2)}`);

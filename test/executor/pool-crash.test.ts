import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { createInterface } from 'node:readline';
import { silentLogger } from '../../src/logger.js';
import { labelKeys } from '../../src/executor/executor.js';
import { DockerExecutor } from '../../src/executor/docker/docker-executor.js';
import { poolLabelKeys } from '../../src/executor/container/pool-names.js';
import { runId, waitFor } from './contract-support.js';
import { engineForTests, sweepInstance } from './docker-harness.js';

// docs/pool.md, crash recovery: a process running the docker executor with a warm pool of 3 and
// two stages in claimed sandboxes is killed with SIGKILL. A new executor of the same instance
// reconciles (reap, reapBuilds: the pool's own sweep and the dead builds' claims), after which
// nothing of the old pool or of the dead stages is left: only what the new executor made itself.
const docker = await engineForTests(false);

if (docker) {
  const engine = docker;
  // The new executor has a pool of its own, or none (the pool was turned off across the restart).
  for (const nextPool of [1, 0]) {
    const instanceId = `tpcrash${nextPool}-${runId}`;
    test(
      `kill -9 of a process with a pool of 3 and two stages running: a new executor ${nextPool ? 'with a pool' : 'without a pool'} leaves nothing of the old pool or the stages`,
      { timeout: 400_000 },
      async (t) => {
        const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', 'support', 'pool-executor-child.ts')], {
          env: { ...process.env, POOL_INSTANCE: instanceId, POOL_SIZE: '3' },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        const exited = new Promise((resolve) => child.once('exit', resolve));
        const made: DockerExecutor[] = [];
        t.after(async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          await exited;
          for (const e of made) await e.close();
          await sweepInstance(engine, instanceId);
        });
        const line = await new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('the child never got its two stages running')), 300_000);
          createInterface({ input: child.stdout! }).once('line', (l) => {
            clearTimeout(timer);
            resolve(l);
          });
          child.once('exit', (code) => reject(new Error(`the child exited early (${code})`)));
        });
        const started = JSON.parse(line) as { refs: string[]; where: string[]; keys: string[] };
        assert.ok(
          started.where.every((w) => /warm sandbox .* \(claimed from the pool\)/.test(w)),
          JSON.stringify(started.where),
        );
        const label = JSON.stringify({ label: [`${labelKeys.instance}=${instanceId}`] });
        const oldPool = await engine.listContainers({
          all: true,
          filters: JSON.stringify({ label: [`${labelKeys.instance}=${instanceId}`, 'bosun.role=pool'] }),
        });
        assert.equal(oldPool.length, 5, 'three ready, two claimed');

        child.kill('SIGKILL');
        await exited;
        const reconciler = new DockerExecutor({
          docker: engine,
          instanceId,
          log: silentLogger(),
          timeoutGraceMs: 1000,
          sandbox: 'stage',
          ...(nextPool
            ? { pool: { size: nextPool, images: ['bosun/busybox:1'], idleSec: 600, limits: { cpus: 1, memoryBytes: 128 * 2 ** 20, pids: 256 } } }
            : {}),
        });
        made.push(reconciler);
        await reconciler.reap(() => false);
        await reconciler.reapBuilds(() => false);

        // Only the new executor's own entries may be left.
        const leftovers = async (): Promise<string[]> => {
          const own = reconciler.warmPool?.ownKeys() ?? new Set<string>();
          const mine = (labels: Record<string, string> | null | undefined) =>
            own.has(labels?.[poolLabelKeys.key] ?? '') || own.has(labels?.[labelKeys.build] ?? '');
          const containers = (await engine.listContainers({ all: true, filters: label })).filter((c) => !mine(c.Labels));
          const networks = (await engine.listNetworks({ filters: label })).filter((n) => !mine(n.Labels));
          const { Volumes: volumes } = await engine.listVolumes({ filters: label });
          return [
            ...containers.map((c) => `container ${c.Names[0]}`),
            ...networks.map((n) => `network ${n.Name}`),
            ...(volumes ?? []).filter((v) => !mine(v.Labels)).map((v) => `volume ${v.Name}`),
          ];
        };
        let left: string[] = [];
        await waitFor(
          'nothing of the old pool or the dead stages to be left',
          async () => {
            left = await leftovers();
            return left.length === 0;
          },
          60_000,
        ).catch(() => assert.deepEqual(left, [], 'left after the reconcile'));
        for (const ref of started.refs) assert.equal((await reconciler.inspectRef(ref)).state, 'gone');
        for (const key of started.keys) assert.match(key, /^pool-/);
      },
    );
  }
}

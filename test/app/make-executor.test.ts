import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { makeExecutor } from '../../src/app/make-executor.js';
import { busyboxImage, engineForTests, sweepInstance } from '../executor/docker-harness.js';
import { collect, makeSpec, makeWorkspace } from '../executor/contract-support.js';

// `limits.killGraceSec` is the grace every executor gives a step between SIGTERM and SIGKILL,
// whichever executor the server picks (it used to reach only the local one).
const docker = await engineForTests(false);
const executors = ['local', 'docker', 'swarm'] as const;

for (const name of executors) {
  test(
    `limits.killGraceSec reaches the ${name} executor: a step ignoring SIGTERM past its timeout is killed after that grace, not the default 10 s`,
    { timeout: 120_000 },
    async (t) => {
      if (name !== 'local' && !docker) return t.skip('no docker engine');
      if (name === 'swarm') {
        const info = (await docker!.info()) as { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean } };
        if (info.Swarm?.LocalNodeState !== 'active' || !info.Swarm.ControlAvailable) return t.skip('the engine is not a swarm manager');
      }
      const dataDir = mkdtempSync(join(tmpdir(), 'bosun-grace-'));
      const instanceId = `grace${process.pid}${name}`;
      const config = loadConfig({}, { dataDir, instanceId, executor: name, limits: { killGraceSec: 1 }, logLevel: 'silent' });
      const executor = await makeExecutor(config, silentLogger());
      const workspace = makeWorkspace();
      try {
        // A container step counts its own time after SIGTERM in 0.2 s ticks: with a 1 s grace it
        // gets a handful before SIGKILL, with the default 10 s some fifty. Ticks are slept, so a
        // loaded machine only makes them fewer, and the engine's start latency is not in them.
        // A local step's output ends with its wrapper at SIGTERM, so it cannot count: its time is
        // taken from the test (no engine in between: ~3 s against the default's 12 s).
        const counts = name !== 'local';
        const spec = makeSpec(
          { workspace, image: busyboxImage, buildId: `g${process.pid}${name}` },
          {
            timeoutSec: 2,
            commands: [counts ? "trap 'echo term' TERM; echo ready; while true; do sleep 0.2; echo tick; done" : "trap '' TERM; echo ready; sleep 60"],
          },
        );
        const handle = await executor.start(spec);
        const started = Date.now();
        const [outcome, out] = await Promise.all([handle.wait(), collect(handle.output)]);
        const tookMs = Date.now() - started;
        await handle.destroy();

        assert.equal(outcome.reason, 'timeout');
        if (counts) {
          const lines = out.stdout.split('\n');
          const termAt = lines.indexOf('term');
          assert.ok(termAt > 0, `the step saw SIGTERM: ${out.stdout.slice(-300)}`);
          const ticksAfterTerm = lines.slice(termAt).filter((l) => l === 'tick').length;
          assert.ok(ticksAfterTerm < 20, `killed ${ticksAfterTerm} ticks of 0.2 s after SIGTERM (1 s grace: about 5; 10 s: about 50)`);
        } else {
          assert.ok(tookMs < 9_000, `killed after ${tookMs} ms`);
        }
      } finally {
        await executor.cleanupBuild(`g${process.pid}${name}`).catch(() => undefined);
        await executor.close();
        if (docker && name !== 'local') await sweepInstance(docker, instanceId);
        rmSync(dataDir, { recursive: true, force: true });
        rmSync(workspace, { recursive: true, force: true });
      }
    },
  );
}

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
        const spec = makeSpec(
          { workspace, image: busyboxImage, buildId: `g${process.pid}${name}` },
          {
            timeoutSec: 2,
            commands: ["trap '' TERM; echo ready; sleep 60"],
          },
        );
        const handle = await executor.start(spec);
        const started = Date.now();
        const [outcome] = await Promise.all([handle.wait(), collect(handle.output)]);
        const tookMs = Date.now() - started;
        await handle.destroy();

        assert.equal(outcome.reason, 'timeout');
        // Timeout 2 s + grace 1 s (+ engine latency); the default grace alone would be 10 s.
        assert.ok(tookMs < 9_000, `killed after ${tookMs} ms`);
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

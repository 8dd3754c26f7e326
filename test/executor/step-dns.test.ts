import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Executor } from '../../src/executor/executor.js';
import { DockerExecutor } from '../../src/executor/docker/docker-executor.js';
import { SwarmExecutor } from '../../src/executor/swarm/swarm-executor.js';
import { silentLogger } from '../../src/logger.js';
import { makeSpec, makeWorkspace, runId, runStep } from './contract-support.js';
import { baseImage, engineForTests, testInstanceId } from './docker-harness.js';

/**
 * On an internal build network (`egress: none`, the executors' default) the engine's DNS lets a
 * name it does not know time out (20 s a lookup with the resolver's defaults): a step waiting for
 * a service that has gone would hang there. Every kind of step container gets
 * `options timeout:1 attempts:2` in its resolv.conf, and the lookup fails (getent exit 2).
 */
const docker = await engineForTests(true);
if (docker) {
  const workspace = makeWorkspace();
  const kinds = [
    { kind: 'docker', make: () => new DockerExecutor({ docker, instanceId: testInstanceId, log: silentLogger(), timeoutGraceMs: 2000 }) },
    {
      kind: 'docker, sandbox: stage',
      make: () => new DockerExecutor({ docker, instanceId: testInstanceId, log: silentLogger(), timeoutGraceMs: 2000, sandbox: 'stage' }),
    },
    { kind: 'swarm', make: () => new SwarmExecutor({ docker, instanceId: testInstanceId, log: silentLogger(), timeoutGraceMs: 2000 }) },
    {
      kind: 'swarm, sandbox: stage',
      make: () => new SwarmExecutor({ docker, instanceId: testInstanceId, log: silentLogger(), timeoutGraceMs: 2000, sandbox: 'stage' }),
    },
  ];
  const made: { executor: Executor; buildId: string }[] = [];
  after(async () => {
    for (const { executor, buildId } of made) {
      await executor.endStage?.(buildId, 'test').catch(() => undefined);
      await executor.cleanupBuild(buildId).catch(() => undefined);
      await executor.close().catch(() => undefined);
    }
  });
  describe('steps on an internal network fail a lookup of an unknown name in seconds', () => {
    for (const [i, { kind, make }] of kinds.entries()) {
      it(`${kind}: resolv.conf has the options, the lookup of a gone service fails`, async () => {
        const executor = make();
        const buildId = `dns${runId}x${i}`;
        made.push({ executor, buildId });
        const spec = makeSpec(
          { workspace, image: baseImage, buildId },
          {
            commands: ['grep ^options /etc/resolv.conf', 'if getent hosts gone-service; then echo FOUND; else echo "lookup failed: $?"; fi'],
            timeoutSec: 120,
          },
        );
        const { outcome, out } = await runStep(executor, spec);
        assert.equal(outcome.exitCode, 0, out.stdout + out.stderr);
        assert.match(out.stdout, /^options .*timeout:1/m);
        assert.match(out.stdout, /^options .*attempts:2/m);
        assert.match(out.stdout, /^lookup failed: 2$/m);
      });
    }
  });
}

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { silentLogger } from '../../src/logger.js';
import { DockerExecutor } from '../../src/executor/docker/docker-executor.js';
import type { SandboxMode } from '../../src/executor/container/sandbox-mode.js';
import { parseSandboxRef } from '../../src/executor/container/sandbox-step.js';
import { runExecutorContract, runIsolationContract } from './contract.js';
import { collect, makeSpec, makeWorkspace, runId, waitFor, type ContractHarness } from './contract-support.js';
import {
  baseImage,
  buildResources,
  busyboxImage,
  containerIsolation,
  containerOfRef,
  engineForTests,
  sandboxContainers,
  sandboxSecretFiles,
  secretContainers,
  stepContainers,
  stepProcesses,
  sweepInstance,
  testInstanceId,
} from './docker-harness.js';
import { runSecretsContract } from './secrets-contract.js';
import { runStageContract } from './stage-contract.js';

const docker = await engineForTests(false);

if (docker) {
  const engine = docker;
  const makeHarness = async (sandbox: SandboxMode): Promise<ContractHarness> => {
    const executor = new DockerExecutor({ docker: engine, instanceId: testInstanceId, log: silentLogger(), timeoutGraceMs: 2000, sandbox });
    const stage = sandbox === 'stage';
    return {
      executor,
      image: busyboxImage,
      baseImage,
      enforcesMemory: true,
      perBuildResources: true,
      reattaches: !stage,
      knowsExitWithoutReattach: stage,
      reapBuilds: (isLive) => executor.reapBuilds(isLive),
      stepResources: (buildId) => (stage ? stepProcesses(engine, buildId) : stepContainers(engine, buildId)),
      buildResources: (buildId) => buildResources(engine, buildId),
      inspectIsolation: (ref) => containerIsolation(engine, containerOfRef(ref)),
      close: async () => {
        await executor.close();
        await sweepInstance(engine);
      },
    };
  };
  for (const mode of ['step', 'stage'] as const) {
    // Short: build ids made from it must stay distinct within the 24 characters resource names keep.
    const name = mode === 'step' ? 'docker' : 'sandbox';
    const make = () => makeHarness(mode);
    runExecutorContract(name, make);
    runIsolationContract(name, make);
    runStageContract(name, async () => ({ ...(await make()), sharesSandbox: mode === 'stage', sandboxes: (buildId) => sandboxContainers(engine, buildId) }));
    runSecretsContract(name, async () => ({
      ...(await make()),
      inspectText: async (ref) => {
        const exec = parseSandboxRef(ref);
        const container = await engine.getContainer(containerOfRef(ref)).inspect();
        return JSON.stringify({ container, exec: exec ? await engine.getExec(exec.execId).inspect() : undefined });
      },
      secretResources: (buildId) => (mode === 'stage' ? sandboxSecretFiles(engine, buildId) : secretContainers(engine, buildId)),
    }));
  }
}

if (docker) {
  const engine = docker;
  describe('docker sandbox: a step whose worker died (docs/sandbox.md)', { timeout: 180_000 }, () => {
    const made: DockerExecutor[] = [];
    const make = (): DockerExecutor => {
      const executor = new DockerExecutor({ docker: engine, instanceId: testInstanceId, log: silentLogger(), timeoutGraceMs: 2000, sandbox: 'stage' });
      made.push(executor);
      return executor;
    };
    const workspace = makeWorkspace();
    const buildId = `dead${runId}`;

    after(async () => {
      await made[0]?.cleanupBuild(buildId);
      for (const e of made) await e.close();
      await sweepInstance(engine);
    });

    it(
      "another process learns the step's fate by its ref (running, then its exit code), cannot re-attach it, and removes its sandbox",
      { timeout: 120_000 },
      async () => {
        const first = make();
        const later = make();
        const spec = makeSpec({ workspace, image: busyboxImage, buildId }, { commands: ['echo started', 'sleep 3', 'exit 5'] });
        const handle = await first.start(spec);
        const output = collect(handle.output);
        await waitFor('the step to run', async () => (await later.inspectRef(handle.ref)).state === 'running', 30_000);

        const running = await later.inspectRef(handle.ref);
        const again = await later.reattach(handle.ref, 60);
        const outcome = await handle.wait();
        await output;
        const ended = await later.inspectRef(handle.ref);

        assert.match(running.detail ?? '', /cannot be read back/);
        assert.equal(again, undefined, 'an exec cannot be re-attached');
        assert.deepEqual(outcome, { exitCode: 5 });
        assert.deepEqual({ state: ended.state, exitCode: ended.exitCode }, { state: 'exited', exitCode: 5 });

        const orphan = await first.start(makeSpec({ workspace, image: busyboxImage, buildId }, { commands: ['sleep 300'] }));
        const orphanOutput = collect(orphan.output).catch(() => undefined);
        await waitFor('the orphan to run', async () => (await later.inspectRef(orphan.ref)).state === 'running', 30_000);
        await later.destroyRef(orphan.ref);

        await orphan.wait().catch(() => undefined);
        await orphanOutput;
        assert.equal((await later.inspectRef(orphan.ref)).state, 'gone');
        assert.deepEqual(await sandboxContainers(engine, buildId), [], 'the dead worker’s sandbox is removed');
        await handle.destroy();
        await orphan.destroy();
      },
    );
  });
}

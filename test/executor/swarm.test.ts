import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { StepSpec } from '../../src/executor/executor.js';
import { silentLogger } from '../../src/logger.js';
import { SwarmExecutor } from '../../src/executor/swarm/swarm-executor.js';
import { runExecutorContract, runIsolationContract } from './contract.js';
import { collect, makeSpec, makeWorkspace, runId, waitFor, type ContractHarness } from './contract-support.js';
import { parseSandboxRef } from '../../src/executor/container/sandbox-step.js';
import { runStageContract } from './stage-contract.js';
import {
  baseImage,
  containerOfRef,
  sandboxSecretFiles,
  sandboxServices,
  serviceOfContainer,
  stepProcesses,
  buildResources,
  buildSecrets,
  busyboxImage,
  engineForTests,
  serviceInspectText,
  serviceIsolation,
  stepServices,
  sweepInstance,
  testInstanceId,
} from './docker-harness.js';
import { runSecretsContract } from './secrets-contract.js';

const docker = await engineForTests(true);

if (docker) {
  const engine = docker;
  const makeHarness = async (): Promise<ContractHarness> => {
    const executor = new SwarmExecutor({ docker: engine, instanceId: testInstanceId, log: silentLogger(), timeoutGraceMs: 2000 });
    return {
      executor,
      image: busyboxImage,
      baseImage,
      enforcesMemory: true,
      perBuildResources: true,
      reattaches: true,
      reapBuilds: (isLive) => executor.reapBuilds(isLive),
      stepResources: (buildId) => stepServices(engine, buildId),
      buildResources: (buildId) => buildResources(engine, buildId),
      inspectIsolation: (ref) => serviceIsolation(engine, ref.replace(/^swarm:/, '')),
      close: async () => {
        await executor.close();
        await sweepInstance(engine);
      },
    };
  };
  runExecutorContract('swarm', makeHarness);
  runIsolationContract('swarm', makeHarness);
  runStageContract('swarm', async () => ({ ...(await makeHarness()), sharesSandbox: false, sandboxes: async () => [] }));
  runSecretsContract('swarm', async () => ({
    ...(await makeHarness()),
    inspectText: (ref) => serviceInspectText(engine, ref.replace(/^swarm:/, '')),
    secretResources: (buildId) => buildSecrets(engine, buildId),
  }));

  // `sandbox: stage` on one node: every sandbox task is local, so every step takes the exec path.
  const makeExecHarness = async (): Promise<ContractHarness> => {
    const executor = new SwarmExecutor({ docker: engine, instanceId: testInstanceId, log: silentLogger(), timeoutGraceMs: 2000, sandbox: 'stage' });
    return {
      executor,
      image: busyboxImage,
      baseImage,
      enforcesMemory: true,
      perBuildResources: true,
      reattaches: false,
      knowsExitWithoutReattach: true,
      reapBuilds: (isLive) => executor.reapBuilds(isLive),
      stepResources: async (buildId) => [
        ...(await stepServices(engine, buildId)).filter((s) => !s.includes('-sandbox-')),
        ...(await stepProcesses(engine, buildId)),
      ],
      buildResources: (buildId) => buildResources(engine, buildId),
      inspectIsolation: async (ref) => serviceIsolation(engine, await serviceOfContainer(engine, containerOfRef(ref))),
      close: async () => {
        await executor.close();
        await sweepInstance(engine);
      },
    };
  };
  // Short: build ids made from it must stay distinct within the 24 characters resource names keep.
  runExecutorContract('swexec', makeExecHarness);
  runIsolationContract('swexec', makeExecHarness);
  runStageContract('swexec', async () => ({ ...(await makeExecHarness()), sharesSandbox: true, sandboxes: (buildId) => sandboxServices(engine, buildId) }));
  runSecretsContract('swexec', async () => ({
    ...(await makeExecHarness()),
    inspectText: async (ref) => {
      const exec = parseSandboxRef(ref);
      const service = await serviceInspectText(engine, await serviceOfContainer(engine, containerOfRef(ref)));
      return JSON.stringify({ service, exec: exec ? await engine.getExec(exec.execId).inspect() : undefined });
    },
    secretResources: (buildId) => sandboxSecretFiles(engine, buildId),
  }));
}

if (docker) {
  const engine = docker;
  describe('swarm executor: Swarm-specific behaviour', { timeout: 120_000 }, () => {
    const executor = new SwarmExecutor({ docker: engine, instanceId: testInstanceId, log: silentLogger(), timeoutGraceMs: 2000 });
    const workspace = makeWorkspace();
    const buildId = `sw${runId}`;
    const spec = (over: Partial<StepSpec>): StepSpec => makeSpec({ workspace, image: busyboxImage, buildId }, over);

    after(async () => {
      await executor.cleanupBuild(buildId);
      await executor.close();
      await sweepInstance(engine);
    });

    it('a failing step has exactly one task, ever: Swarm does not re-run it (R19)', async () => {
      const handle = await executor.start(spec({ commands: ['exit 3'] }));
      const [outcome] = await Promise.all([handle.wait(), collect(handle.output)]);
      await new Promise((resolve) => setTimeout(resolve, 1500));

      const tasks = await engine.listTasks({ filters: JSON.stringify({ service: [handle.ref.replace('swarm:', '')] }) });
      await handle.destroy();

      assert.deepEqual(outcome, { exitCode: 3 });
      assert.equal(tasks.length, 1);
    });

    it('a step whose service disappears behind its back ends as node_lost', async () => {
      const handle = await executor.start(spec({ commands: ['echo ready', 'sleep 300'] }));
      let seen = '';
      const output = collect(handle.output, (text) => (seen = text));
      await waitFor('the step to run', () => seen.includes('ready\n'));

      await engine.getService(handle.ref.replace('swarm:', '')).remove();
      const outcome = await handle.wait();
      await output;
      await handle.destroy();

      assert.equal(outcome.reason, 'node_lost');
    });
  });
}

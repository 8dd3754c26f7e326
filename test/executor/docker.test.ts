import { silentLogger } from '../../src/logger.js';
import { DockerExecutor } from '../../src/executor/docker/docker-executor.js';
import type { SandboxMode } from '../../src/executor/container/sandbox-mode.js';
import { parseSandboxRef } from '../../src/executor/container/sandbox-step.js';
import { runExecutorContract, runIsolationContract } from './contract.js';
import type { ContractHarness } from './contract-support.js';
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

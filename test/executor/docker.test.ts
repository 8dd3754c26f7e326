import { silentLogger } from '../../src/logger.js';
import { DockerExecutor } from '../../src/executor/docker/docker-executor.js';
import { runExecutorContract, runIsolationContract } from './contract.js';
import type { ContractHarness } from './contract-support.js';
import {
  baseImage,
  buildResources,
  busyboxImage,
  containerIsolation,
  engineForTests,
  secretContainers,
  stepContainers,
  sweepInstance,
  testInstanceId,
} from './docker-harness.js';
import { runSecretsContract } from './secrets-contract.js';

const docker = await engineForTests(false);

if (docker) {
  const engine = docker;
  const makeHarness = async (): Promise<ContractHarness> => {
    const executor = new DockerExecutor({ docker: engine, instanceId: testInstanceId, log: silentLogger(), timeoutGraceMs: 2000 });
    return {
      executor,
      image: busyboxImage,
      baseImage,
      enforcesMemory: true,
      perBuildResources: true,
      reattaches: true,
      reapBuilds: (isLive) => executor.reapBuilds(isLive),
      stepResources: (buildId) => stepContainers(engine, buildId),
      buildResources: (buildId) => buildResources(engine, buildId),
      inspectIsolation: (ref) => containerIsolation(engine, ref.replace(/^docker:/, '')),
      close: async () => {
        await executor.close();
        await sweepInstance(engine);
      },
    };
  };
  runExecutorContract('docker', makeHarness);
  runIsolationContract('docker', makeHarness);
  runSecretsContract('docker', async () => ({
    ...(await makeHarness()),
    inspectText: async (ref) => JSON.stringify(await engine.getContainer(ref.replace(/^docker:/, '')).inspect()),
    secretResources: (buildId) => secretContainers(engine, buildId),
  }));
}

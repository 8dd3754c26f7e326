import { silentLogger } from '../../src/logger.js';
import { SwarmExecutor } from '../../src/executor/swarm/swarm-executor.js';
import { runExecutorContract, runIsolationContract } from './contract.js';
import type { ContractHarness } from './contract-support.js';
import { baseImage, buildResources, busyboxImage, engineForTests, serviceIsolation, stepServices, sweepInstance, testInstanceId } from './docker-harness.js';

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
}

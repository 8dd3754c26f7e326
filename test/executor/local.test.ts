import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/logger.js';
import { labelKeys } from '../../src/executor/executor.js';
import { LocalExecutor } from '../../src/executor/local/local-executor.js';
import { runExecutorContract } from './contract.js';
import { runId, type ContractHarness } from './contract-support.js';
import { runSecretsContract } from './secrets-contract.js';
import { runStageContract } from './stage-contract.js';

const makeHarness = async (): Promise<ContractHarness & { dataDir: string }> => {
  const dataDir = mkdtempSync(join(tmpdir(), 'bosun-local-exec-'));
  const executor = new LocalExecutor({ instanceId: `test-${runId}`, dataDir, log: silentLogger(), timeoutGraceMs: 2000 });
  return {
    executor,
    image: 'unused',
    baseImage: 'unused',
    enforcesMemory: false,
    perBuildResources: false,
    reapBuilds: (isLive) => executor.reapBuilds(isLive),
    stepResources: async (buildId) => liveSteps(dataDir, buildId),
    buildResources: async () => [],
    close: async () => {
      await executor.reap(() => false);
      await executor.close();
    },
    dataDir,
  };
};
runExecutorContract('local', makeHarness);
runStageContract('local', async () => ({ ...(await makeHarness()), sharesSandbox: false, sandboxes: async () => [] }));

runSecretsContract('local', async () => {
  const h = await makeHarness();
  return {
    ...h,
    // What the OS shows about the step: its registry entry, and the shell's command line and environment.
    inspectText: async (ref) => {
      const pid = ref.split(':')[1];
      const entries = safeReaddir(join(h.dataDir, 'local-steps')).map((name) => readFileSync(join(h.dataDir, 'local-steps', name), 'utf8'));
      return [...entries, readFileSync(`/proc/${pid}/cmdline`, 'utf8'), readFileSync(`/proc/${pid}/environ`, 'utf8')].join('\n');
    },
    secretResources: async (_buildId, dir) => (dir && existsSync(dir) ? [dir] : []),
  };
});

/** Recorded steps of this build whose process group is still alive. */
async function liveSteps(dataDir: string, buildId: string): Promise<string[]> {
  const { readFile } = await import('node:fs/promises');
  const dir = join(dataDir, 'local-steps');
  const live: string[] = [];
  for (const name of safeReaddir(dir)) {
    // Steps of cases running beside this one may be destroyed (their file removed) meanwhile.
    const text = await readFile(join(dir, name), 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    const entry = JSON.parse(text) as { ref: string; labels: Record<string, string> };
    if (entry.labels[labelKeys.build] !== buildId) continue;
    const pgid = Number(entry.ref.split(':')[2]);
    if (groupAlive(pgid)) live.push(entry.ref);
  }
  return live;
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

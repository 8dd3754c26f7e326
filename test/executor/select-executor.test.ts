import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Docker from 'dockerode';
import { InfraError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { selectExecutor, type SelectExecutorOptions } from '../../src/executor/select-executor.js';
import { engineForTests } from './docker-harness.js';

const base = (): Omit<SelectExecutorOptions, 'docker' | 'preferred'> => ({
  instanceId: 'select-test',
  dataDir: mkdtempSync(join(tmpdir(), 'bosun-select-')),
  log: silentLogger(),
});
const missingSocket = (): Docker => new Docker({ socketPath: join(tmpdir(), `no-such-docker-${process.pid}.sock`) });
/** A recording stand-in for a plain (non-swarm) engine: answers ping and info only. */
const plainEngine = (): Docker =>
  ({ ping: async () => 'OK', info: async () => ({ Swarm: { LocalNodeState: 'inactive', ControlAvailable: false } }) }) as unknown as Docker;

describe('selectExecutor', () => {
  const cases: Array<{ name: string; docker: () => Docker | null; preferred?: SelectExecutorOptions['preferred']; expect: string }> = [
    { name: 'no engine configured: local', docker: () => null, expect: 'local' },
    { name: 'socket missing: local', docker: missingSocket, expect: 'local' },
    { name: 'plain engine: docker', docker: plainEngine, expect: 'docker' },
    { name: 'local preferred with an engine: local', docker: plainEngine, preferred: 'local', expect: 'local' },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const executor = await selectExecutor({ ...base(), docker: c.docker(), preferred: c.preferred });

      assert.equal(executor.name, c.expect);
      await executor.close();
    });
  }

  it('swarm asked of a plain engine is an infrastructure error', async () => {
    await assert.rejects(selectExecutor({ ...base(), docker: plainEngine(), preferred: 'swarm' }), InfraError);
  });

  it('docker asked with no engine is an infrastructure error', async () => {
    await assert.rejects(selectExecutor({ ...base(), docker: missingSocket(), preferred: 'docker' }), InfraError);
  });
});

const docker = await engineForTests(true);
if (docker) {
  describe('selectExecutor on the real engine (a swarm manager)', () => {
    it('auto picks swarm, and docker when asked', async () => {
      const auto = await selectExecutor({ ...base(), docker });
      const plain = await selectExecutor({ ...base(), docker, preferred: 'docker' });

      assert.equal(auto.name, 'swarm');
      assert.equal(plain.name, 'docker');
      await auto.close();
      await plain.close();
    });
  });
}

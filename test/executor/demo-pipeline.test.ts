import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from '../support/bosun-harness.js';
import { requireDocker } from '../support/require-docker.js';
import { selectExecutor } from '../../src/executor/select-executor.js';
import { dockerClient } from '../../src/app/make-executor.js';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import type { Executor } from '../../src/executor/executor.js';

// Issue 6: the example repository's pipeline runs on Swarm by default when the engine is a
// swarm manager, and on plain Docker when asked; steps really run in the base image.
const cases: { name: string; preferred: 'auto' | 'docker'; expect: string; sandbox?: 'stage' }[] = [
  { name: 'auto picks swarm on a swarm manager', preferred: 'auto', expect: 'swarm' },
  { name: 'docker runs plain containers on the same engine', preferred: 'docker', expect: 'docker' },
  // docs/sandbox.md: each stage's steps exec'd in one sandbox.
  { name: 'docker with a sandbox per stage', preferred: 'docker', expect: 'docker', sandbox: 'stage' },
  { name: 'swarm with a sandbox per stage', preferred: 'auto', expect: 'swarm', sandbox: 'stage' },
];

for (const c of cases) {
  test(`the demo pipeline succeeds in containers: ${c.name}`, async (t) => {
    if (!(await requireDocker(t))) return;
    let executor: Executor | undefined;
    const h = await startHarness(
      {},
      {
        executorAsync: async (dataDir) => {
          executor = await selectExecutor({
            docker: dockerClient(loadConfig({})),
            preferred: c.preferred,
            instanceId: `demo${process.pid}${c.sandbox ?? ''}`,
            dataDir,
            log: silentLogger(),
            ...(c.sandbox ? { sandbox: c.sandbox } : {}),
          });
          return executor;
        },
      },
    );
    try {
      const res = await h.api('POST', '/api/builds', { repo: 'demo', ref: 'master' });
      const b = await h.waitDone(res.json.build.id, 240_000);

      assert.equal(b.status, 'success', JSON.stringify(b.stages));
      assert.deepEqual(
        b.stages.flatMap((s) => s.steps.map((st) => st.executor)),
        ['test', 'test', 'e2e'].map(() => c.expect),
      );
      const log = await h.api('GET', `/api/builds/${b.id}/logs/test/unit`);
      assert.match(log.json, /Python 3\./);
      if (c.sandbox) assert.match(log.json, /^bosun: the step runs in the stage's sandbox /m);
    } finally {
      await h.stop();
    }
  });
}

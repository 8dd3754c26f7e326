import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { LocalExecutor } from '../../src/executor/local/local-executor.js';
import type { StepSpec } from '../../src/executor/executor.js';
import { UserError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';

/** The local executor, except that a step named `missing-image` cannot start (as a container executor refuses a missing image). */
class RefusingExecutor extends LocalExecutor {
  override async start(spec: StepSpec) {
    if (spec.step === 'missing-image') throw new UserError('bad_request', `image ${spec.image} is not on this engine`);
    return super.start(spec);
  }
}

let h: Harness;
before(async () => {
  h = await startHarness({}, { executor: (dataDir) => new RefusingExecutor({ instanceId: 'refuse', dataDir, log: createLogger('silent'), timeoutGraceMs: 2000 }) });
});
after(async () => {
  await h?.stop();
});

test('a step that cannot start fails its stage and build; later stages are skipped', async () => {
  const repo = await makeRepo(h.dataDir, 'refused', {
    'bosun.yml': [
      'version: 1', 'image: any', 'stages:', '  build:', '    steps:', '      - name: missing-image', '        run: echo never',
      '  deploy:', '    needs: [build]', '    steps:', '      - name: ship', '        run: echo shipped', '',
    ].join('\n'),
  });
  h.server.core.config.repos.refused = { url: repo.url, defaultBranch: 'master', secrets: [] };

  const res = await h.api('POST', '/api/builds', { repo: 'refused', ref: 'master' });
  const b = await h.waitDone(res.json.build.id);

  assert.equal(b.status, 'failed');
  assert.deepEqual(b.stages.map((s) => [s.name, s.status]), [['build', 'failed'], ['deploy', 'skipped']]);
});

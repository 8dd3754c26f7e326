import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { FakeExecutor } from '../fakes/fake-executor.js';
import { UserError } from '../../src/errors.js';

/** A step named `missing-image` cannot start, as a container executor refuses a missing image. */
const executor = new FakeExecutor('local').script('missing-image', { startError: new UserError('bad_request', 'image any is not on this engine') });

let h: Harness;
before(async () => {
  h = await startHarness({}, { executor: () => executor });
});
after(async () => {
  await h?.stop();
});

test('a step that cannot start fails its stage and build; later stages are skipped', async () => {
  const repo = await makeRepo(h.dataDir, 'refused', {
    'bosun.yml': [
      'version: 1',
      'image: any',
      'stages:',
      '  build:',
      '    steps:',
      '      - name: missing-image',
      '        run: echo never',
      '  deploy:',
      '    needs: [build]',
      '    steps:',
      '      - name: ship',
      '        run: echo shipped',
      '',
    ].join('\n'),
  });
  h.server.core.config.repos.refused = { url: repo.url, defaultBranch: 'master', secrets: [] };

  const res = await h.api('POST', '/api/builds', { repo: 'refused', ref: 'master' });
  const b = await h.waitDone(res.json.build.id);

  assert.equal(b.status, 'failed');
  assert.deepEqual(
    b.stages.map((s) => [s.name, s.status]),
    [
      ['build', 'failed'],
      ['deploy', 'skipped'],
    ],
  );
  assert.deepEqual(
    executor.calls.filter((c) => c.startsWith('start ')),
    ['start build/missing-image'],
    'the deploy stage never started a step',
  );
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { FakeExecutor } from '../fakes/fake-executor.js';
import { StageEnds } from '../../src/executor/container/stage-ends.js';

/**
 * An executor whose `endStage` (a stage sandbox's removal, a `docker rm -f` for the container
 * executors) holds until the test lets it go: the build must not wait for it.
 */
class SlowEndExecutor extends FakeExecutor {
  readonly held: { stage: string; release: () => void }[] = [];

  endStage(_buildId: string, stage: string): Promise<void> {
    this.calls.push(`endStage ${stage}`);
    return new Promise<void>((resolve) => {
      this.held.push({
        stage,
        release: () => {
          this.calls.push(`endStage ${stage} done`);
          resolve();
        },
      });
    });
  }
}

const executor = new SlowEndExecutor('docker');

let h: Harness;
before(async () => {
  h = await startHarness({}, { executor: () => executor });
});
after(async () => {
  for (const held of executor.held) held.release();
  await h?.stop();
});

test("a stage's sandbox removal is off the build's critical path: the next stage and the build's end do not wait for it", async () => {
  const repo = await makeRepo(h.dataDir, 'slow-end', {
    'bosun.yml': [
      'version: 1',
      'image: any',
      'stages:',
      '  a:',
      '    steps:',
      '      - name: one',
      '        run: echo a',
      '  b:',
      '    needs: [a]',
      '    steps:',
      '      - name: two',
      '        run: echo b',
      '',
    ].join('\n'),
  });
  h.server.core.config.repos['slow-end'] = { url: repo.url, defaultBranch: 'master', secrets: [] };

  const res = await h.api('POST', '/api/builds', { repo: 'slow-end', ref: 'master' });
  // Neither removal has been let go, yet both stages ran and the build finished.
  const b = await h.waitDone(res.json.build.id);
  assert.equal(b.status, 'success', JSON.stringify(b.error ?? b.stages));
  assert.deepEqual(
    executor.held.map((x) => x.stage),
    ['a', 'b'],
  );
  assert.ok(!executor.calls.some((c) => c.endsWith(' done')), 'no removal had finished');
  assert.ok(executor.calls.indexOf('start b/two') > executor.calls.indexOf('endStage a'), 'stage b started while a was being removed');
  for (const held of executor.held) held.release();
});

test('cleanupBuild waits for the removals of that build still running, not for other builds', async () => {
  const ends = new StageEnds();
  const order: string[] = [];
  let releaseA!: () => void;
  let releaseOther!: () => void;
  void ends.run('b1', () => new Promise<void>((r) => (releaseA = () => (order.push('b1 stage removed'), r()))));
  void ends.run('b2', () => new Promise<void>((r) => (releaseOther = r)));
  void ends.run('b1', () => Promise.reject(new Error('engine said no')));
  const cleanup = ends.settled('b1').then(() => order.push('b1 cleanup'));
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(order, [], 'the cleanup waits');
  releaseA();
  await cleanup;
  assert.deepEqual(order, ['b1 stage removed', 'b1 cleanup']);
  await ends.settled('b3');
  releaseOther();
  await ends.settled('b2');
});

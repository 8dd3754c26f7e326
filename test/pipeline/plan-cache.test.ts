import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PlanCache, type PlanSource } from '../../src/pipeline/plan-cache.js';
import type { ExecutionPlan } from '../../src/domain/plan.js';

const source: PlanSource = { text: Buffer.from('version: 1\n'), path: 'bosun.yml', event: 'push', branch: 'master', timeoutSec: 3600 };
const plan: ExecutionPlan = { specPath: 'bosun.yml', stages: [], skipped: [{ name: 'deploy', reason: 'branch master is not production' }] };

// A cached plan stands for a compile of the same inputs only: any input that differs is a miss.
const cases: { name: string; other: Partial<PlanSource>; hit: boolean }[] = [
  { name: 'the same spec bytes, path and trigger find the plan', other: {}, hit: true },
  { name: 'an equal copy of the spec bytes finds the plan', other: { text: Buffer.from('version: 1\n') }, hit: true },
  { name: 'a changed spec is compiled again', other: { text: Buffer.from('version: 1\n# changed\n') }, hit: false },
  { name: 'the other spec path is compiled again', other: { path: '.bosun.yml' }, hit: false },
  { name: 'another trigger event is compiled again', other: { event: 'pull_request' }, hit: false },
  { name: 'another branch is compiled again', other: { branch: 'production' }, hit: false },
  { name: 'another default step timeout is compiled again', other: { timeoutSec: 60 }, hit: false },
];

for (const c of cases) {
  test(c.name, () => {
    const cache = new PlanCache();
    cache.set(PlanCache.key(source), plan);

    const found = cache.get(PlanCache.key({ ...source, ...c.other }));

    assert.deepEqual(found, c.hit ? plan : undefined);
  });
}

test('a caller that changes the plan it got does not change the cached one', () => {
  const cache = new PlanCache();
  const key = PlanCache.key(source);
  cache.set(key, plan);

  cache.get(key)!.skipped.push({ name: 'e2e', reason: 'changed by a caller' });

  assert.deepEqual(cache.get(key), plan);
});

test('only the newest plans are kept', () => {
  const cache = new PlanCache(2);
  const keys = ['a', 'b', 'c'].map((branch) => PlanCache.key({ ...source, branch }));
  for (const key of keys) cache.set(key, plan);

  assert.deepEqual(
    keys.map((key) => cache.get(key) !== undefined),
    [false, true, true],
  );
});

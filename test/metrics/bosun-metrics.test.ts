import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BosunMetrics } from '../../src/metrics/bosun-metrics.js';
import type { Core } from '../../src/app/open-core.js';
import type { Build } from '../../src/domain/build.js';
import type { StoredEvent } from '../../src/domain/build-event.js';

/** A core whose store answers `get` only when the test says so; nothing else is touched. */
function slowStoreCore(build: Partial<Build>): { core: Core; answer(): void } {
  let answer!: () => void;
  const answered = new Promise<void>((r) => (answer = r));
  const core = {
    config: { workerLabels: [] },
    store: {
      get: async () => {
        await answered;
        return build as Build;
      },
    },
  } as unknown as Core;
  return { core, answer };
}

/** `name`'s samples as `sample{labels} value` lines (this metric only: no scrape-time reads). */
async function samples(metrics: BosunMetrics, name: string): Promise<string[]> {
  const text = await metrics.registry.getSingleMetricAsString(name);
  return text.split('\n').filter((l) => l && !l.startsWith('#') && !/_bucket\{/.test(l));
}

// A scrape between "a build ended" and "its duration" used to see the build counted and not yet
// timed (the store read sat between the two): /metrics figures that disagree at one instant.
const at = '2026-12-06T12:00:10.000Z';
const cases: Array<{ name: string; event: StoredEvent; build: Partial<Build>; counter: string; histogram: string }> = [
  {
    name: 'a build that ended is counted and timed together, never one without the other',
    event: { id: '1-0', at, type: 'build.status', buildId: '7', status: 'success', previous: 'running' },
    build: { id: '7', createdAt: '2026-12-06T12:00:00.000Z', startedAt: '2026-12-06T12:00:00.000Z', finishedAt: at, stages: [] },
    counter: 'bosun_builds_total',
    histogram: 'bosun_build_duration_seconds',
  },
  {
    name: 'a step that ended is counted and timed together, never one without the other',
    event: { id: '1-0', at, type: 'step.status', buildId: '7', stage: 'test', step: 'unit', status: 'success', previous: 'running' } as StoredEvent,
    build: {
      id: '7',
      stages: [{ name: 'test', steps: [{ name: 'unit', startedAt: '2026-12-06T12:00:00.000Z', finishedAt: at }] }],
    } as unknown as Partial<Build>,
    counter: 'bosun_steps_total',
    histogram: 'bosun_step_duration_seconds',
  },
];

for (const c of cases) {
  test(c.name, async () => {
    const { core, answer } = slowStoreCore(c.build);
    const metrics = new BosunMetrics(core);
    const observed = metrics.observe(c.event);
    await new Promise((r) => setImmediate(r)); // the observer now waits on the store
    assert.deepEqual(await samples(metrics, c.counter), [], 'not counted while its build is being read');
    assert.ok(!(await samples(metrics, c.histogram)).some((l) => l.includes('_count') && !l.endsWith(' 0')), 'nor timed');
    answer();
    await observed;
    assert.deepEqual(await samples(metrics, c.counter), [`${c.counter}{status="success"} 1`]);
    assert.ok((await samples(metrics, c.histogram)).includes(`${c.histogram}_count{status="success"} 1`));
  });
}

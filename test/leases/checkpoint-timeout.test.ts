import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkpointTimeoutSec } from '../../src/leases/checkpoint-leases.js';
import { Pools } from '../../src/leases/pool-config.js';
import type { PlanCheckpoint } from '../../src/domain/plan.js';

const pools = Pools.parse({ phone: { items: [{ id: 'iphone-1' }], maxTtlSec: 8 * 3600 } });
const checkpoint = (timeoutSec: number, pool?: string): PlanCheckpoint => ({
  instructions: 'Try it.',
  checklist: [],
  timeoutSec,
  approvers: 'qa',
  ...(pool ? { resource: { pool, attributes: [] } } : {}),
});

const cases: { name: string; cp: PlanCheckpoint; want: number }[] = [
  { name: 'no resource: its own timeout, however long', cp: checkpoint(24 * 3600), want: 24 * 3600 },
  { name: 'a resource, timeout under the pool cap: its own timeout', cp: checkpoint(4 * 3600, 'phone'), want: 4 * 3600 },
  { name: "a resource, timeout over the pool cap: the pool's maxTtlSec", cp: checkpoint(24 * 3600, 'phone'), want: 8 * 3600 },
  { name: 'a pool this server does not have: its own timeout (the lease is refused elsewhere)', cp: checkpoint(24 * 3600, 'tablet'), want: 24 * 3600 },
];

for (const c of cases) {
  test(`checkpoint timeout — ${c.name}`, () => {
    assert.equal(checkpointTimeoutSec(c.cp, pools), c.want);
  });
}

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startRedis, type TestRedis } from '../support/redis-server.js';
import { silentLogger } from '../../src/logger.js';
import { LeaseManager } from '../../src/leases/lease-manager.js';
import { leaseHousekeeping } from '../../src/leases/janitor.js';
import { Pools } from '../../src/leases/pool-config.js';
import type { BuildEvent } from '../../src/domain/build-event.js';
import type { AuditEntry } from '../../src/storage/audit-log.js';

let redis: TestRedis;
let conn: Redis;
before(async () => {
  redis = await startRedis({ appendonly: false });
  conn = redis.client();
});
after(async () => {
  await redis?.stop();
});

function manager(prefix: string, pools: unknown, groups: Record<string, string[]> = {}) {
  const events: BuildEvent[] = [];
  const audit: AuditEntry[] = [];
  const leases = new LeaseManager(
    conn,
    prefix,
    { pools: Pools.parse(pools), groups },
    { publish: async (e) => (events.push(e), '') },
    { record: async (e) => void audit.push(e) },
    silentLogger(),
  );
  return { leases, events, audit };
}

const actor = (n: number) => ({ id: `cli:user${n}`, name: `user${n}` });
const tenDevices = { device: { items: Array.from({ length: 10 }, (_, i) => ({ id: `phone-${i}`, attributes: ['android'] })), reminderLeadSec: 0 } };

test('100 concurrent requests on 10 items never double-allocate, and the wait list is served in order', async () => {
  const { leases } = manager('t1', tenDevices);
  await leases.sync();
  await leaseHousekeeping(leases, silentLogger());

  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => leases.acquire('device', ['android'], actor(i), 60)));

  const granted = results.filter((r) => r.status === 'granted');
  assert.equal(granted.length, 10);
  assert.equal(new Set(granted.map((r) => r.lease.item)).size, 10, 'each item granted once');
  const tokens = granted.map((r) => r.lease.token);
  assert.equal(new Set(tokens).size, 10, 'every grant has its own fencing token');
  const waiting = results.filter((r) => r.status === 'waiting');
  assert.deepEqual(
    waiting.map((r) => r.position).sort((a, b) => a - b),
    Array.from({ length: 90 }, (_, i) => i + 1),
  );
  const queue = (await leases.waiting('device')).map((l) => l.id);

  const servedOrder: string[] = [];
  for (let round = 0; round < 9; round++) {
    const holders = (await leases.items('device')).filter((i) => i.lease);
    assert.equal(holders.length, 10);
    for (const it of holders) await leases.release(it.lease!.id, it.lease!.holder, it.lease!.token, 'done');
    await leaseHousekeeping(leases, silentLogger());
    const now = (await leases.items('device')).filter((i) => i.lease).map((i) => i.lease!);
    assert.equal(new Set(now.map((l) => l.item)).size, now.length);
    servedOrder.push(...now.map((l) => l.id).sort((a, b) => queue.indexOf(a) - queue.indexOf(b)));
  }
  assert.deepEqual(servedOrder, queue, 'waiters were granted in FIFO order');
  assert.equal((await leases.waiting('device')).length, 0);
});

test('a stale token from a previous holder is refused: late heartbeat and late release', async () => {
  const { leases, audit } = manager('t2', { device: { items: [{ id: 'pixel-1', attributes: ['pixel-7'] }] } });
  await leases.sync();
  await leaseHousekeeping(leases, silentLogger());
  const a = await leases.acquire('device', [], actor(1), 1);
  assert.equal(a.status, 'granted');
  const old = a.lease;
  await new Promise((r) => setTimeout(r, 1100));
  const b = await leases.acquire('device', ['pixel-7'], actor(2), 60);
  assert.equal(b.status, 'waiting');

  await leaseHousekeeping(leases, silentLogger());

  const now = await leases.require(b.lease.id);
  assert.equal(now.state, 'active');
  assert.ok(now.token! > old.token!, 'fencing token increases with every grant');
  await assert.rejects(leases.renew(old.id, actor(1), old.token, 60), /not active|stale/);
  await assert.rejects(leases.renew(now.id, actor(2), old.token, 60), /stale fencing token/);
  await assert.rejects(leases.release(old.id, actor(1), old.token, 'late'), /not active|stale/);
  await assert.rejects(leases.release(now.id, actor(1), now.token, 'not mine'), /only they or a pool admin/);
  const renewed = await leases.renew(now.id, actor(2), now.token, 120);
  assert.ok(Date.parse(renewed.expiresAt!) > Date.parse(now.expiresAt!));
  assert.ok(audit.some((e) => e.action === 'lease.renew' && e.outcome === 'denied'));
  assert.ok(audit.some((e) => e.action === 'lease.expire' && e.actorId === 'cli:user1'));
});

test('an expired lease goes dirty; a failing health check marks the item broken; a pool admin may release anyone', async () => {
  const pools = {
    lab: { items: [{ id: 'box-1', healthCheck: ['false'] }, { id: 'box-2' }], healthCheck: ['true'], admins: 'ops', reminderLeadSec: 1 },
  };
  const { leases, events } = manager('t3', pools, { ops: ['cli:admin'] });
  await leases.sync();
  await leaseHousekeeping(leases, silentLogger());
  assert.deepEqual(
    (await leases.items('lab')).map((i) => i.state),
    ['broken', 'free'],
  );

  const a = await leases.acquire('lab', [], actor(1), 2);
  assert.equal(a.lease.item, 'box-2');
  await new Promise((r) => setTimeout(r, 1100));
  await leaseHousekeeping(leases, silentLogger());
  assert.ok(events.some((e) => e.type === 'lease.reminder' && e.leaseId === a.lease.id));

  await leases.release(a.lease.id, { id: 'cli:admin', name: 'admin' }, undefined, 'admin');
  assert.equal((await leases.items('lab'))[1]!.state, 'dirty');
  await assert.rejects(leases.acquire('lab', ['gpu'], actor(2), 60), /no item in pool "lab" has gpu/);
});

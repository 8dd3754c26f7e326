import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostname } from 'node:os';
import type Docker from 'dockerode';
import { silentLogger } from '../../src/logger.js';
import type { StepLimits } from '../../src/executor/executor.js';
import { WarmPool, refillDelayMs, type WarmEntry, type WarmEntryFactory } from '../../src/executor/container/warm-pool.js';
import { isPoolKey, ownerAlive, processOwner } from '../../src/executor/container/pool-names.js';
import { waitFor } from './contract-support.js';

const limits: StepLimits = { cpus: 1, memoryBytes: 256 * 2 ** 20, pids: 256 };

/** Records what the pool asked for; entries are plain records. */
class FakeFactory implements WarmEntryFactory {
  readonly created: string[] = [];
  readonly removed: string[] = [];
  missing = new Set<string>();
  async resolveImage(ref: string): Promise<string> {
    if (this.missing.has(ref)) throw new Error(`image ${ref} is not available`);
    return `id-${ref}`;
  }
  async create(entryId: string, imageId: string, entryLimits: StepLimits): Promise<WarmEntry> {
    this.created.push(entryId);
    return { entryId, key: `pool-${entryId}`, imageId, limits: entryLimits, container: {} as Docker.Container, name: `sb-${entryId}` };
  }
  async remove(entry: WarmEntry): Promise<void> {
    this.removed.push(entry.entryId);
  }
}

const make = (factory: FakeFactory, over: Partial<ConstructorParameters<typeof WarmPool>[0]> = {}) =>
  new WarmPool({ size: 2, images: ['a'], limits, idleMs: 600_000, factory, log: silentLogger(), freeMemory: () => 64 * 2 ** 30, ...over });

test('the pool fills each image to its size, hands an entry out once, and refills after a claim', async () => {
  const factory = new FakeFactory();
  const pool = make(factory, { images: ['a', 'b'] });
  pool.start();
  await pool.settled();
  assert.equal(pool.readyCount, 4);

  const first = pool.take('id-a', limits);
  const second = pool.take('id-a', limits);
  const third = pool.take('id-a', limits);

  assert.ok(first && second && first.entryId !== second.entryId);
  assert.equal(third, undefined, 'two were ready; the refill has not run yet');
  await waitFor('the refill', async () => (await pool.settled(), pool.readyCount === 4), 10_000);
  assert.equal(factory.created.length, 6);
  assert.ok(!pool.ownKeys().has(first.key), 'a claimed entry is no longer the pool’s');
  await pool.close();
});

test('a claim that leaves entries ready refills refillDelayMs later (off the claimed build’s first engine calls); taking the last refills at once', async () => {
  const factory = new FakeFactory();
  const pool = make(factory);
  pool.start();
  await pool.settled();
  assert.equal(factory.created.length, 2);

  const claimedAt = Date.now();
  assert.ok(pool.take('id-a', limits));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(factory.created.length, 2, 'one is still ready: no refill yet');
  await pool.settled();
  assert.equal(pool.readyCount, 2);
  assert.ok(Date.now() - claimedAt >= refillDelayMs - 5, 'the refill waited');

  assert.ok(pool.take('id-a', limits));
  assert.ok(pool.take('id-a', limits));
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(factory.created.length > 3, 'the last one taken: the refill started at once');
  await pool.settled();
  assert.equal(pool.readyCount, 2);
  await pool.close();
});

test('a claim needs the pool’s limits and image; other limits or images get nothing', async () => {
  const factory = new FakeFactory();
  const pool = make(factory);
  pool.start();
  await pool.settled();

  assert.equal(pool.take('id-a', { ...limits, memoryBytes: 512 * 2 ** 20 }), undefined);
  assert.equal(pool.take('id-other', limits), undefined);
  assert.ok(pool.take('id-a', limits));
  await pool.close();
});

test('the pool never holds more than half the free memory at the sandbox memory limit', async () => {
  const factory = new FakeFactory();
  // Half of 1 GiB holds two sandboxes of 256 MiB.
  const pool = make(factory, { size: 5, freeMemory: () => 2 ** 30 });
  pool.start();
  await pool.settled();

  assert.equal(pool.readyCount, 2);
  await pool.close();
});

test('an image missing on the engine is skipped; the others fill', async () => {
  const factory = new FakeFactory();
  factory.missing.add('gone');
  const pool = make(factory, { images: ['gone', 'a'] });
  pool.start();
  await pool.settled();

  assert.equal(pool.readyCount, 2);
  await pool.close();
});

test('idle for idleMs, the pool shrinks to 0; the next claim refills it', async () => {
  const factory = new FakeFactory();
  const pool = make(factory, { idleMs: 200 });
  pool.start();
  await pool.settled();

  await waitFor('the pool to shrink', () => pool.readyCount === 0 && factory.removed.length === 2, 10_000);
  assert.equal(pool.take('id-a', limits), undefined, 'nothing ready right after the shrink');
  await waitFor('the refill', async () => (await pool.settled(), pool.readyCount === 2), 10_000);
  await pool.close();
});

test('close removes the entries not taken, and an entry given back after close', async () => {
  const factory = new FakeFactory();
  const pool = make(factory);
  pool.start();
  await pool.settled();
  const taken = pool.take('id-a', limits)!;
  await pool.settled();

  await pool.close();
  pool.giveBack(taken);

  await waitFor('every entry but none claimed twice to be removed', () => factory.removed.length === 3, 10_000);
  assert.deepEqual(new Set(factory.removed).size, 3);
  assert.equal(pool.take('id-a', limits), undefined);
});

test('pool keys and owners: a key is never a build id; this process lives, a pid that is gone does not, another host is unknown', () => {
  assert.ok(isPoolKey('pool-0123456789ab'));
  for (const id of ['42', 'pool-42', 'pool-0123456789abc', 'xpool-0123456789ab']) assert.ok(!isPoolKey(id), id);
  assert.equal(ownerAlive(processOwner()), true);
  assert.equal(ownerAlive(`${hostname()}:999999999:1`), false);
  const [, pid] = processOwner().split(':');
  assert.equal(ownerAlive(`${hostname()}:${pid}:1`), false, 'the same pid with another start time is another process');
  assert.equal(ownerAlive(`elsewhere-${hostname()}:1:1`), undefined);
  assert.equal(ownerAlive(undefined), false);
});

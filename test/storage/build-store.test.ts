import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type TestRedis } from '../support/redis-server.js';
import { BuildStore } from '../../src/storage/build-store.js';
import type { Build } from '../../src/domain/build.js';
import type { BuildEvent } from '../../src/domain/build-event.js';

let redis: TestRedis;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

let nextId = 1;
function build(): Build {
  return {
    id: String(nextId++),
    repo: 'demo',
    ref: 'master',
    sha: 'a'.repeat(40),
    trigger: { event: 'manual', source: 'cli', actor: { id: 'u', name: 'u' } },
    status: 'queued',
    stages: [],
    createdAt: new Date().toISOString(),
    attempt: 1,
    version: 0,
  };
}

const note = (b: Build, text: string): BuildEvent[] => {
  b.error = { code: 'note', message: `${b.error?.message ?? ''}${text}` };
  return [{ type: 'build.status', buildId: b.id, status: b.status, previous: b.status }];
};

async function eventCount(client: ReturnType<TestRedis['client']>, prefix: string): Promise<number> {
  return client.xlen(`${prefix}:events`);
}

// Two stores stand for two processes: each guesses from the record it last saw, and the
// compare-and-set keeps every write (R20: no lost update, no event without its write).
const cases: { name: string; run(a: BuildStore, b: BuildStore, id: string): Promise<void>; message: string; writes: number }[] = [
  {
    name: 'a write from a store whose last-seen record is current needs no read and keeps the change',
    run: async (a, _b, id) => {
      await a.update(id, (x) => note(x, 'a'));
      await a.update(id, (x) => note(x, 'b'));
    },
    message: 'ab',
    writes: 2,
  },
  {
    name: 'a write from a store whose last-seen record is old is applied on top of the newer one',
    run: async (a, b, id) => {
      await a.get(id);
      await b.update(id, (x) => note(x, 'b'));
      await a.update(id, (x) => note(x, 'a'));
    },
    message: 'ba',
    writes: 2,
  },
  {
    name: 'a mutate that declines on an old record is asked again with the current one',
    run: async (a, b, id) => {
      await a.get(id);
      await b.update(id, (x) => note(x, 'b'));
      const { changed } = await a.update(id, (x) => (x.error ? note(x, 'a') : null));
      assert.equal(changed, true);
    },
    message: 'ba',
    writes: 2,
  },
  {
    name: 'a mutate that declines on the current record writes nothing',
    run: async (a, _b, id) => {
      const { changed, build: seen } = await a.update(id, () => null);
      assert.equal(changed, false);
      assert.equal(seen.version, 0);
    },
    message: '',
    writes: 0,
  },
];

for (const c of cases) {
  test(c.name, async () => {
    const prefix = `t${nextId}`;
    const client = redis.client();
    const a = new BuildStore(client, prefix);
    const b = new BuildStore(redis.client(), prefix);
    const fresh = build();
    await a.create(fresh, []);

    await c.run(a, b, fresh.id);

    const stored = await b.require(fresh.id);
    assert.equal(stored.error?.message ?? '', c.message);
    assert.equal(stored.version, c.writes);
    assert.equal(await eventCount(client, prefix), c.writes);
  });
}

test('an update of a build that does not exist is an unknown_build error', async () => {
  const store = new BuildStore(redis.client(), 'missing');
  await assert.rejects(
    store.update('404', (x) => note(x, 'a')),
    /no build #404/,
  );
});

test('an update of a build removed since this store last saw it is an unknown_build error', async () => {
  const client = redis.client();
  const store = new BuildStore(client, 'removed');
  const gone = build();
  await store.create(gone, []);
  await store.get(gone.id);
  await client.del(`removed:build:${gone.id}`);

  await assert.rejects(
    store.update(gone.id, (x) => note(x, 'a')),
    /no build #/,
  );
});

test('getMany reads several builds in the order asked, null for one that does not exist', async () => {
  const store = new BuildStore(redis.client(), 'many');
  const [first, second] = [build(), build()];
  await store.create(first, []);
  await store.create(second, []);

  const found = await store.getMany([second.id, '999999', first.id]);

  assert.deepEqual(
    found.map((b) => b?.id ?? null),
    [second.id, null, first.id],
  );
});

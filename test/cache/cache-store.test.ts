import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { CacheStore } from '../../src/cache/cache-store.js';

// The cache store on the data directory: lookups in namespace order, restore keys, atomic
// saves, LRU eviction under the per-repository cap.

const master = 'trusted/branch-master-1';
const pr = 'untrusted/pr-7';

describe('CacheStore', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'bosun-cache-store-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const bytes = (n: number, fill = 'x'): Readable => Readable.from([Buffer.alloc(n, fill)]);
  const readAll = async (s: NodeJS.ReadableStream): Promise<string> => {
    const chunks: Buffer[] = [];
    for await (const c of s) chunks.push(Buffer.from(c as Buffer));
    return Buffer.concat(chunks).toString();
  };
  const age = async (store: CacheStore, repo: string, ns: string, key: string, secondsAgo: number): Promise<void> => {
    const t = new Date(Date.now() - secondsAgo * 1000);
    await utimes(join(store.repoDir(repo), ns, `${key}.tar`), t, t);
  };

  it('finds the exact key in the first namespace that has it, before any restore key', async () => {
    const store = new CacheStore(join(root, 'a'), 1e9);
    await store.save('acme/api', master, 'pip-1', bytes(3, 'm'));
    await store.save('acme/api', pr, 'pip-1', bytes(3, 'p'));
    await store.save('acme/api', pr, 'pip-0', bytes(3, 'o'));
    const hit = await store.find('acme/api', [pr, master], 'pip-1', ['pip-']);
    assert.deepEqual([hit?.kind, hit?.namespace], ['exact', pr]);
    assert.equal(await readAll(await store.open(hit!)), 'ppp');
    const trustedOnly = await store.find('acme/api', [master], 'pip-1', []);
    assert.equal(await readAll(await store.open(trustedOnly!)), 'mmm', 'a namespace not listed is never read');
  });

  it('a restore key restores the most recently used match, own namespace first', async () => {
    const store = new CacheStore(join(root, 'b'), 1e9);
    await store.save('r', master, 'npm-old', bytes(1));
    await store.save('r', master, 'npm-new', bytes(1));
    await age(store, 'r', master, 'npm-old', 60);
    const hit = await store.find('r', ['trusted/pr-3', master], 'npm-missing', ['nothing-', 'npm-']);
    assert.deepEqual([hit?.kind, hit?.key, hit?.prefix], ['partial', 'npm-new', 'npm-']);
    assert.equal(await store.find('r', [master], 'x', ['y-']), undefined);
  });

  it('keeps repositories apart, even with look-alike names', async () => {
    const store = new CacheStore(join(root, 'c'), 1e9);
    await store.save('acme/api', master, 'k', bytes(1));
    assert.equal(await store.find('acme_api', [master], 'k', []), undefined);
    assert.notEqual(store.repoDir('acme/api'), store.repoDir('acme_api'));
  });

  it('a save whose archive fails leaves nothing behind (atomic rename)', async () => {
    const store = new CacheStore(join(root, 'd'), 1e9);
    const broken = new Readable({
      read() {
        this.push(Buffer.alloc(10));
        this.destroy(new Error('producer broke'));
      },
    });
    await assert.rejects(store.save('r', master, 'k', broken), /producer broke/);
    assert.equal(await store.has('r', master, 'k'), false);
    assert.deepEqual(await readdir(join(store.repoDir('r'), '.tmp')), []);
  });

  it('evicts the least recently used archives past the cap; a restore counts as a use', async () => {
    const store = new CacheStore(join(root, 'e'), 250);
    await store.save('r', master, 'a', bytes(100));
    await store.save('r', pr, 'b', bytes(100));
    await age(store, 'r', master, 'a', 120);
    await age(store, 'r', pr, 'b', 60);
    // `a` is older, but restoring it makes it the most recently used.
    await readAll(await store.open((await store.find('r', [master], 'a', []))!));
    const saved = await store.save('r', master, 'c', bytes(100));
    assert.deepEqual(saved.evicted, [`${pr}/b`]);
    assert.equal(await store.has('r', master, 'a'), true);
    assert.equal(await store.has('r', master, 'c'), true);
    assert.equal(await readFile(join(store.repoDir('r'), master, 'c.tar'), 'utf8'), 'x'.repeat(100));
  });

  it('refuses keys and namespaces that could leave its directory', async () => {
    const store = new CacheStore(join(root, 'f'), 1e9);
    await assert.rejects(store.save('r', master, '../x', bytes(1)), /slash/);
    await assert.rejects(store.find('r', ['trusted/../../etc'], 'k', []), /not a cache namespace/);
    await assert.rejects(store.find('r', [master], 'k', ['a/']), /restore key a\/ contains a slash/);
  });
});

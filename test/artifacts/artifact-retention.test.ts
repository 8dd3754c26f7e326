import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { DataDirArtifactStore } from '../../src/artifacts/artifact-store.js';
import { sweepArtifacts } from '../../src/artifacts/artifact-sweeper.js';

const day = 86_400_000;

test('retention: builds past the age limit, and past the newest N of their repository, lose their artifacts', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bosun-retention-'));
  try {
    const store = new DataDirArtifactStore(dir);
    const now = new Date('2026-12-06T12:00:00Z');
    const keep = async (repo: string, id: string, ageDays: number) => {
      await store.put(repo, id, 'dist/app.whl', Readable.from([Buffer.from(`${repo}${id}`)]), 1024);
      const t = new Date(now.getTime() - ageDays * day);
      utimesSync(join(store.root, encodeURIComponent(repo), id), t, t);
    };
    await keep('acme/api', '1', 40); // too old
    await keep('acme/api', '7', 3); // 4th newest of acme/api: over the count
    await keep('acme/api', '9', 2);
    await keep('acme/api', '10', 1);
    await keep('acme/api', '12', 0);
    await keep('demo', '2', 29); // old but within 30 days, and alone in its repo
    const removed = await sweepArtifacts(store, { retainDays: 30, retainBuildsPerRepo: 3 }, now);
    assert.deepEqual(removed.map((b) => `${b.repo}#${b.buildId}`).sort(), ['acme/api#1', 'acme/api#7']);
    const left = (await store.builds()).map((b) => `${b.repo}#${b.buildId}`).sort();
    assert.deepEqual(left, ['acme/api#10', 'acme/api#12', 'acme/api#9', 'demo#2']);
    assert.equal(await store.open('acme/api', '1', 'dist/app.whl'), undefined);
    assert.ok(await store.open('acme/api', '12', 'dist/app.whl'));
    // Again: nothing more to do; 0 turns a rule off.
    assert.deepEqual(await sweepArtifacts(store, { retainDays: 30, retainBuildsPerRepo: 3 }, now), []);
    assert.deepEqual(await sweepArtifacts(store, { retainDays: 0, retainBuildsPerRepo: 0 }, new Date(now.getTime() + 1000 * day)), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

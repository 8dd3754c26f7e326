import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BackgroundCleanup } from '../../src/queue/background-cleanup.js';
import { silentLogger } from '../../src/logger.js';

/** A cleanup that records calls and finishes when told to. */
function gatedCleanup() {
  const calls: string[] = [];
  const release = new Map<string, () => void>();
  let running = 0;
  let maxRunning = 0;
  const clean = async (id: string) => {
    calls.push(id);
    running += 1;
    maxRunning = Math.max(maxRunning, running);
    await new Promise<void>((r) => release.set(id, r));
    running -= 1;
    if (id.startsWith('fail')) throw new Error(`cannot clean ${id}`);
  };
  return { calls, release, clean, max: () => maxRunning };
}

const tick = () => new Promise((r) => setTimeout(r, 5));

test('schedule returns at once; at most `concurrency` cleanups run; drain waits for all of them', async () => {
  const g = gatedCleanup();
  const cleanup = new BackgroundCleanup(g.clean, silentLogger(), { concurrency: 2, delayMs: 0 });

  for (const id of ['1', '2', '3']) cleanup.schedule(id);
  await tick();

  assert.deepEqual(g.calls, ['1', '2'], 'the third waits for a free slot');
  let drained = false;
  const drain = cleanup.drain().then(() => (drained = true));
  g.release.get('1')!();
  await tick();
  await tick();
  assert.deepEqual(g.calls, ['1', '2', '3']);
  assert.equal(drained, false, 'drain waits for the running ones');
  g.release.get('2')!();
  g.release.get('3')!();
  await drain;
  assert.equal(g.max(), 2);
  assert.equal(cleanup.size, 0);
});

test('a build already queued or being cleaned is not queued twice; once done it can be again', async () => {
  const g = gatedCleanup();
  const cleanup = new BackgroundCleanup(g.clean, silentLogger(), { concurrency: 1, delayMs: 0 });

  cleanup.schedule('7');
  cleanup.schedule('7');
  cleanup.schedule('8');
  cleanup.schedule('8');
  await tick();
  g.release.get('7')!();
  await tick();
  await tick();
  g.release.get('8')!();
  await cleanup.drain();
  assert.deepEqual(g.calls, ['7', '8']);

  cleanup.schedule('7');
  await tick();
  g.release.get('7')!();
  await cleanup.drain();
  assert.deepEqual(g.calls, ['7', '8', '7']);
});

test('a failed cleanup is logged and does not stop the others', async () => {
  const warnings: unknown[] = [];
  const log = Object.assign(silentLogger(), { warn: (obj: unknown) => void warnings.push(obj) });
  const g = gatedCleanup();
  const cleanup = new BackgroundCleanup(g.clean, log, { concurrency: 1, delayMs: 0 });

  cleanup.schedule('fail-1');
  cleanup.schedule('2');
  await tick();
  g.release.get('fail-1')!();
  await tick();
  await tick();
  g.release.get('2')!();
  await cleanup.drain();

  assert.deepEqual(g.calls, ['fail-1', '2']);
  assert.equal(warnings.length, 1);
  assert.equal((warnings[0] as { buildId: string }).buildId, 'fail-1');
});

test('clear drops the cleanups not started yet', async () => {
  const g = gatedCleanup();
  const cleanup = new BackgroundCleanup(g.clean, silentLogger(), { concurrency: 1, delayMs: 0 });

  cleanup.schedule('1');
  cleanup.schedule('2');
  await tick();
  cleanup.clear();
  g.release.get('1')!();
  await cleanup.drain();

  assert.deepEqual(g.calls, ['1']);
});

test('a cleanup starts after the delay; drain starts the waiting ones at once, clear drops them', async () => {
  const g = gatedCleanup();
  const cleanup = new BackgroundCleanup(g.clean, silentLogger(), { concurrency: 2, delayMs: 60_000 });

  cleanup.schedule('1');
  cleanup.schedule('2');
  await tick();
  assert.deepEqual(g.calls, [], 'not before the delay');
  const drained = cleanup.drain();
  await tick();
  assert.deepEqual(g.calls, ['1', '2'], 'drain does not wait for the delay');
  g.release.get('1')!();
  g.release.get('2')!();
  await drained;

  cleanup.schedule('3');
  cleanup.clear();
  await cleanup.drain();
  assert.deepEqual(g.calls, ['1', '2']);

  const soon = new BackgroundCleanup(g.clean, silentLogger(), { delayMs: 20 });
  soon.schedule('4');
  for (let i = 0; i < 1000 && g.calls.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(g.calls, ['1', '2', '4'], 'started on its own after the delay');
  g.release.get('4')!();
  await soon.drain();
});

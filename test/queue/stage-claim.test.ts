import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { startRedis } from '../support/redis-server.js';
import { BullmqWorkQueue } from '../../src/queue/bullmq-work-queue.js';

// R20: a stage job that arrives while another live worker holds the stage (its first worker
// lost the queue lock but still runs it) waits; it never runs the steps a second time, and
// waiting uses up none of the job's attempts.
test('a stage held by another live worker waits for its claim, then runs once', async () => {
  const h = await startHarness();
  try {
    const repo = await makeRepo(h.dataDir, 'claimed', {
      'bosun.yml': 'version: 1\nimage: any\nstages:\n  test:\n    steps:\n      - name: unit\n        run: echo ran\n',
    });
    const core = h.server.core;
    (core.deps.config.repos as Record<string, unknown>).claimed = { url: repo.url, defaultBranch: 'master', secrets: [] };
    const queue = core.deps.queue;
    assert.ok(queue.claimStage, 'the BullMQ queue implements stage claims');

    // Build ids count from 1 in a fresh Redis: hold the next build's stage for 6 s (long enough
    // that a loaded machine still looks at the build while the claim is held).
    const holdMs = 6000;
    // Taken before the claim: Redis starts its expiry after this, so the claim lapses no sooner
    // than claimAskedAt + holdMs, however slow the answer was.
    const claimAskedAt = Date.now();
    assert.equal(await queue.claimStage('1', 'test', 'another-worker', holdMs), true);
    // The holder cannot be displaced, only renew.
    assert.equal(await queue.claimStage('1', 'test', 'a-third-worker', 3000), false);
    const res = await h.api('POST', '/api/builds', { repo: 'claimed', ref: 'master' });
    assert.equal(res.json.build.id, '1');

    await new Promise((r) => setTimeout(r, 1500));
    const meanwhile = await core.store.require('1');
    // Only a look taken while the claim surely held says something (a very slow machine may
    // get here after it lapsed; the start time below still proves the wait).
    if (Date.now() < claimAskedAt + holdMs) {
      // Under load the plan may not even be stored yet (no steps): that, too, is "nothing ran".
      assert.equal(meanwhile.stages[0]?.steps[0]?.runs ?? 0, 0, 'no step ran while the stage was held');
      assert.notEqual(meanwhile.stages[0]?.status, 'running');
    }

    const b = await h.waitDone('1', 60_000);
    assert.equal(b.status, 'success', JSON.stringify(b.stages));
    assert.equal(b.stages[0]?.steps[0]?.runs, 1);
    assert.ok(Date.parse(b.stages[0]!.steps[0]!.startedAt!) >= claimAskedAt + holdMs - 50, 'it ran only after the claim lapsed');
  } finally {
    await h.stop();
  }
});

// The watchdog reads the heartbeat; holding the claim is what keeps it fresh (one round trip).
test('taking or renewing a stage claim records its heartbeat; a refused claim does not', async () => {
  const redis = await startRedis();
  try {
    const queue = new BullmqWorkQueue(redis.client(), 'hb');
    const before = Date.now();

    assert.equal(await queue.claimStage('5', 'test', 'first', 3000), true);
    const beat = await queue.lastHeartbeat('5', 'test');
    await redis.client().del('hb:hb:5:test');
    assert.equal(await queue.claimStage('5', 'test', 'second', 3000), false);

    assert.ok(beat !== null && beat >= before, 'the claim recorded a heartbeat');
    assert.equal(await queue.lastHeartbeat('5', 'test'), null, 'a refused claim records none');
    await queue.close();
  } finally {
    await redis.stop();
  }
});

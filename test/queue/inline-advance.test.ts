import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inlineAdvance } from '../../src/queue/inline-advance.js';
import type { WorkQueue } from '../../src/pipeline/pipeline-deps.js';
import { InfraError, UserError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';

function recordingQueue(): WorkQueue & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    advance: async (id) => void calls.push(`advance ${id}`),
    runStage: async (id, stage, attempt, labels) => void calls.push(`stage ${id}/${stage}/${attempt}/${labels.join(',')}`),
    claimStage: async (id, stage, owner) => {
      calls.push(`claim ${id}/${stage} ${owner}`);
      return true;
    },
  };
}

// A stage's end advances its build in this process; only an infrastructure failure falls back
// to the advance job (which retries), and a user error is dropped as the advance worker would.
const cases: { name: string; advanceNow: () => Promise<void>; jobs: string[] }[] = [
  { name: 'a build advanced here needs no advance job', advanceNow: async () => undefined, jobs: [] },
  {
    name: 'an infrastructure failure here queues the advance job',
    advanceNow: async () => Promise.reject(new InfraError('conflict', 'build kept changing')),
    jobs: ['advance 7'],
  },
  { name: 'an unexpected failure here queues the advance job', advanceNow: async () => Promise.reject(new Error('boom')), jobs: ['advance 7'] },
  {
    name: 'a user error here is dropped, as the advance worker would drop it',
    advanceNow: async () => Promise.reject(new UserError('unknown_build', 'no build #7')),
    jobs: [],
  },
];

for (const c of cases) {
  test(c.name, async () => {
    const queue = recordingQueue();
    const advanced: string[] = [];

    await inlineAdvance(
      queue,
      async (id) => {
        advanced.push(id);
        await c.advanceNow();
      },
      silentLogger(),
    ).advance('7');

    assert.deepEqual(advanced, ['7']);
    assert.deepEqual(queue.calls, c.jobs);
  });
}

test('every other queue call goes to the queue, and methods it lacks stay absent', async () => {
  const queue = recordingQueue();
  const here = inlineAdvance(queue, async () => undefined, silentLogger());

  await here.runStage('7', 'test', 1, ['macos']);
  assert.equal(await here.claimStage?.('7', 'test', 'me', 1000), true);

  assert.deepEqual(queue.calls, ['stage 7/test/1/macos', 'claim 7/test me']);
  assert.equal(here.heartbeat, undefined);
  assert.equal(here.releaseStage, undefined);
});

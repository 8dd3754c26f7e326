import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type Docker from 'dockerode';
import { TaskWatcher } from '../../src/executor/swarm/task-watcher.js';
import { SwarmStep } from '../../src/executor/swarm/swarm-step.js';
import type { SwarmTask } from '../../src/executor/swarm/swarm-task.js';

/** A Docker client whose `listTasks` answers from `services` (id → its tasks; absent: removed, 404). */
function fakeSwarm(services: Map<string, unknown[]>): { docker: Docker; calls: string[][] } {
  const calls: string[][] = [];
  const notFound = () => Object.assign(new Error('(HTTP code 404) no such service'), { statusCode: 404 });
  const docker = {
    listTasks: async (opts: { filters: string }) => {
      const ids = (JSON.parse(opts.filters) as { service: string[] }).service;
      calls.push(ids);
      if (ids.some((id) => !services.has(id))) throw notFound();
      return ids.flatMap((id) => services.get(id)!);
    },
  } as unknown as Docker;
  return { docker, calls };
}

const until = async (what: string, ok: () => boolean): Promise<void> => {
  for (let deadline = Date.now() + 5_000; !ok();) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

describe('TaskWatcher: a service removed before its task was seen', () => {
  it('is reported gone (with no tasks); a service that exists but has no task yet is not', async () => {
    const services = new Map<string, unknown[]>([['kept', []]]);
    const { docker } = fakeSwarm(services);
    const watcher = new TaskWatcher(docker, 5);
    const seen = new Map<string, { tasks: SwarmTask[]; gone: boolean }>();
    watcher.watch(
      'kept',
      (tasks, gone) => seen.set('kept', { tasks, gone }),
      (err) => assert.fail(String(err)),
    );
    watcher.watch(
      'removed',
      (tasks, gone) => seen.set('removed', { tasks, gone }),
      (err) => assert.fail(String(err)),
    );
    try {
      await until('both services to be reported', () => seen.size === 2);
      assert.deepEqual(seen.get('kept'), { tasks: [], gone: false });
      assert.deepEqual(seen.get('removed'), { tasks: [], gone: true });
    } finally {
      watcher.close();
    }
  });

  it('a step whose service is removed before any task appeared ends node_lost at once, not at its timeout', async () => {
    const { docker } = fakeSwarm(new Map());
    const watcher = new TaskWatcher(docker, 5);
    const service = { id: 'gone1', remove: async () => undefined } as unknown as Docker.Service;
    const step = new SwarmStep(docker, service, watcher, { timeoutSec: 600, timeoutGraceMs: 1000, localLogs: true });
    try {
      const outcome = await Promise.race([step.wait(), new Promise((resolve) => setTimeout(() => resolve('still waiting after 10 s'), 10_000).unref())]);
      assert.deepEqual(outcome, { exitCode: -1, reason: 'node_lost' });
    } finally {
      await step.destroy();
      watcher.close();
    }
  });
});

import type { Executor } from '../executor/executor.js';
import type { WorkerDeps } from '../pipeline/pipeline-deps.js';
import { startWorkers, type RunningWorkers } from '../queue/start-workers.js';
import { connectRedis } from '../storage/redis-connection.js';
import type { Core } from './open-core.js';

export interface WorkerPool {
  executor: Executor;
  workers: RunningWorkers;
  close(force?: boolean): Promise<void>;
}

/**
 * Stage (and optionally advance) workers in this process, with the executor for this host.
 * On start it reaps executor resources of this instance that no live build step claims (R22).
 */
export async function startWorkerPool(
  core: Core,
  opts: { advance: boolean; concurrency: number; labels: string[]; executor?: Executor },
): Promise<WorkerPool> {
  const executor = opts.executor ?? (await (await import('./make-executor.js')).makeExecutor(core.config, core.log));
  await core.control.listen();
  const deps: WorkerDeps = { ...core.deps, executor, cancellations: core.control, instanceId: core.config.instanceId };
  await reapOrphans(core, executor);
  const connection = connectRedis(core.redisTarget);
  const workers = startWorkers(deps, {
    connection, prefix: core.prefix, advance: opts.advance, stageConcurrency: opts.concurrency, labels: opts.labels,
  });
  return {
    executor,
    workers,
    async close(force = false) {
      await workers.close(force);
      connection.disconnect();
      if (!opts.executor) await executor.close();
    },
  };
}

async function reapOrphans(core: Core, executor: Executor): Promise<void> {
  const live = new Set<string>();
  for (const id of await core.store.activeIds()) {
    const b = await core.store.get(id);
    for (const s of b?.stages ?? []) for (const st of s.steps) if (st.status === 'running') live.add(`${id}/${s.name}/${st.name}`);
  }
  try {
    const reapBuilds = (executor as Partial<{ reapBuilds(isLive: (id: string) => boolean): Promise<string[]> }>).reapBuilds;
    if (reapBuilds) {
      const active = new Set(await core.store.activeIds());
      const removedBuilds = await reapBuilds.call(executor, (id) => active.has(id));
      if (removedBuilds.length > 0) core.log.warn({ removed: removedBuilds }, 'Removed per-build resources of finished builds');
    }
    const removed = await executor.reap((labels) => live.has(`${labels['bosun.build']}/${labels['bosun.stage']}/${labels['bosun.step']}`));
    if (removed.length > 0) core.log.warn({ removed }, 'Removed orphaned step resources');
  } catch (err) {
    core.log.warn({ err }, 'Reaping orphaned step resources failed');
  }
}

import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { sandboxStepName, serviceStepName, type Executor } from '../executor/executor.js';
import { isTerminal } from '../domain/status.js';
import { removeWorkspace } from '../pipeline/workspace.js';
import type { WorkerDeps } from '../pipeline/pipeline-deps.js';
import { startWorkers, type RunningWorkers } from '../queue/start-workers.js';
import { connectRedis } from '../storage/redis-connection.js';
import type { Core } from './open-core.js';
import { workspaceFilesFor } from './workspace-files-for.js';
import { makeDeployManager } from '../deploys/deploy-frontend.js';
import { DeployStore } from '../deploys/deploy-store.js';
import { ManagerStageDeployer } from '../deploys/stage-deployer.js';

export interface WorkerPool {
  executor: Executor;
  workers: RunningWorkers;
  close(force?: boolean): Promise<void>;
}

/**
 * Stage (and optionally advance) workers in this process, with the executor for this host.
 * On start it reaps executor resources of this instance that no live build step claims (R22).
 */
export async function startWorkerPool(core: Core, opts: { advance: boolean; concurrency: number; labels: string[]; executor?: Executor }): Promise<WorkerPool> {
  const executor = opts.executor ?? (await (await import('./make-executor.js')).makeExecutor(core.config, core.log));
  await core.control.listen();
  const workspaceFiles = workspaceFilesFor(core.config, executor);
  // Deploy stages (`deploy:`) deploy through a manager of this process; the server's deploy
  // watchdog settles what it leaves if this process dies.
  const deploys = Object.keys(core.config.environments ?? {}).length > 0 ? makeDeployManager(core) : undefined;
  const deps: WorkerDeps = {
    ...core.deps,
    executor,
    cancellations: core.control,
    instanceId: core.config.instanceId,
    ...(workspaceFiles ? { workspaceFiles } : {}),
    ...(deploys
      ? {
          deployer: new ManagerStageDeployer({ manager: deploys, store: new DeployStore(core.redis, core.prefix), environments: core.config.environments }),
        }
      : {}),
  };
  await reapOrphans(core, executor);
  const connection = connectRedis(core.redisTarget);
  const stopSweep = startWorkspaceSweep(core, executor);
  const workers = startWorkers(deps, {
    connection,
    prefix: core.prefix,
    advance: opts.advance,
    stageConcurrency: opts.concurrency,
    labels: opts.labels,
  });
  return {
    executor,
    workers,
    async close(force = false) {
      stopSweep();
      await workers.close(force);
      await deploys?.close();
      connection.disconnect();
      if (!opts.executor) await executor.close();
    },
  };
}

async function reapOrphans(core: Core, executor: Executor): Promise<void> {
  const live = new Set<string>();
  for (const id of await core.store.activeIds()) {
    const b = await core.store.get(id);
    for (const s of b?.stages ?? []) {
      for (const st of s.steps) if (st.status === 'running') live.add(`${id}/${s.name}/${st.name}`);
      // A running stage's services belong to the worker running it (possibly another process).
      if (s.status === 'running') for (const sv of s.services ?? []) live.add(`${id}/${s.name}/${serviceStepName(sv.name)}`);
      // And so do its stage sandboxes (docs/sandbox.md).
      if (s.status === 'running') live.add(`${id}/${s.name}/${sandboxStepName}`);
    }
  }
  try {
    const active = new Set(await core.store.activeIds());
    const removedBuilds = await executor.reapBuilds((id) => active.has(id));
    if (removedBuilds.length > 0) core.log.warn({ removed: removedBuilds }, 'Removed per-build resources of finished builds');
    const removed = await executor.reap((labels) => live.has(`${labels['bosun.build']}/${labels['bosun.stage']}/${labels['bosun.step']}`));
    if (removed.length > 0) core.log.warn({ removed }, 'Removed orphaned step resources');
  } catch (err) {
    core.log.warn({ err }, 'Reaping orphaned step resources failed');
  }
}

/**
 * Removes the workspaces (checkout, executor volume and network) of builds that ended
 * without success more than `limits.retainFailedWorkspaceSec` ago, or that no longer exist.
 */
export async function sweepWorkspaces(core: Core, executor: Executor, now = Date.now()): Promise<string[]> {
  const dir = join(core.config.dataDir, 'workspaces');
  const names = await readdir(dir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const id of names) {
    const build = await core.store.get(id);
    if (build && !isTerminal(build.status)) continue;
    const ended = build?.finishedAt ? Date.parse(build.finishedAt) : 0;
    if (build && now - ended < core.config.limits.retainFailedWorkspaceSec * 1000) continue;
    await executor.cleanupBuild(id).catch((err: unknown) => core.log.warn({ err, buildId: id }, 'Executor cleanup failed'));
    await removeWorkspace(core.config, id);
    removed.push(id);
  }
  return removed;
}

function startWorkspaceSweep(core: Core, executor: Executor): () => void {
  const timer = setInterval(() => {
    void sweepWorkspaces(core, executor).catch((err: unknown) => core.log.warn({ err }, 'Workspace sweep failed'));
  }, 10 * 60_000);
  timer.unref();
  return () => clearInterval(timer);
}

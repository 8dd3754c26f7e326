import type { ServerConfig } from '../config.js';
import type { Executor } from '../executor/executor.js';
import { LocalWorkspaceFiles, type WorkspaceFiles } from '../cache/workspace-files.js';
import { VolumeWorkspaceFiles } from '../cache/volume-workspace-files.js';
import { dockerClient } from './make-executor.js';

/**
 * How stage caches reach the workspaces `executor`'s steps see: the checkout itself (`local`),
 * the build's workspace volume on the engine (`docker`, and `swarm` on one node); none on a
 * multi-node swarm (`swarm.registry` set), where a stage with `cache:` is refused.
 */
export function workspaceFilesFor(
  config: ServerConfig,
  executor: Pick<Executor, 'name'> & { instanceId?: string; workspaceKey?: (buildId: string) => Promise<string> },
): WorkspaceFiles | undefined {
  if (executor.name === 'local') return new LocalWorkspaceFiles();
  if (executor.name === 'swarm' && config.swarm.registry) return undefined;
  // The executor's own instance id names the build's volume (tests give executors their own).
  // And its `workspaceKey` (a build that claimed a warm sandbox has the pool entry's volume, docs/pool.md).
  return new VolumeWorkspaceFiles(dockerClient(config), executor.instanceId ?? config.instanceId, executor.workspaceKey?.bind(executor));
}

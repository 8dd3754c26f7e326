import type Docker from 'dockerode';
import type { Logger } from '../../logger.js';
import { ignoreNotFound } from '../container/docker-errors.js';
import { buildLabels, workspaceVolumeName } from '../container/resource-names.js';
import { stepUser, workspaceMount } from '../container/isolation.js';
import { terminalStates, toSwarmTask } from './swarm-task.js';

/**
 * Empties a build's workspace volume on the other nodes it ran on, where the manager's API
 * cannot reach volumes: one one-shot service per node, pinned there, running as the step user
 * with the volume mounted (never created: `NoCopy`, and only on nodes the build used) and no
 * network, deletes the volume's contents. The empty volume itself stays on the node
 * (`docker volume prune --filter label=bosun.managed=true` removes them; a node-local cron).
 *
 * Which nodes: those `track` was told of (steps' outcomes, in this process). A build whose
 * worker crashed leaves its remote copies to that prune.
 */
export class RemoteWorkspaces {
  readonly #docker: Docker;
  readonly #instanceId: string;
  readonly #log: Logger;
  readonly #used = new Map<string, { nodes: Set<string>; image: string }>();

  constructor(docker: Docker, instanceId: string, log: Logger) {
    this.#docker = docker;
    this.#instanceId = instanceId;
    this.#log = log;
  }

  /** A step of `buildId` ran on `nodeId` from `image` (a digest reference every node can pull). */
  track(buildId: string, nodeId: string, image: string): void {
    let used = this.#used.get(buildId);
    if (!used) this.#used.set(buildId, (used = { nodes: new Set(), image }));
    used.nodes.add(nodeId);
  }

  /** Empty the build's volume on every tracked node except `localNodeId` (removed directly). */
  async sweep(buildId: string, localNodeId: string, timeoutMs = 60_000): Promise<void> {
    const used = this.#used.get(buildId);
    this.#used.delete(buildId);
    if (!used) return;
    await Promise.all(
      [...used.nodes]
        .filter((n) => n !== localNodeId)
        .map((node) =>
          this.#sweepNode(buildId, node, used.image, timeoutMs).catch((err: unknown) =>
            this.#log.warn({ err, buildId, node }, 'Could not empty the workspace volume on a node'),
          ),
        ),
    );
  }

  async #sweepNode(buildId: string, node: string, image: string, timeoutMs: number): Promise<void> {
    const labels = { ...buildLabels(buildId, this.#instanceId), 'bosun.role': 'sweep' };
    const created = (await this.#docker.createService({
      Name: `bosun-${this.#instanceId}-sweep-${buildId}-${node.slice(0, 12)}`
        .toLowerCase()
        .replace(/[^a-z0-9-]/g, '-')
        .slice(0, 63),
      Labels: labels,
      TaskTemplate: {
        ContainerSpec: {
          Image: image,
          Labels: labels,
          // Any step image has a shell (steps run through /bin/sh); dotfiles included.
          Command: ['/bin/sh', '-c', `rm -rf ${workspaceMount}/* ${workspaceMount}/.[!.]* ${workspaceMount}/..?*`],
          User: stepUser,
          ReadOnly: true,
          CapabilityDrop: ['ALL'],
          Mounts: [
            {
              Type: 'volume',
              Source: workspaceVolumeName(this.#instanceId, buildId),
              Target: workspaceMount,
              VolumeOptions: { NoCopy: true, Labels: labels, DriverConfig: { Name: 'local', Options: {} } },
            },
          ],
        },
        RestartPolicy: { Condition: 'none', MaxAttempts: 0 },
        Placement: { Constraints: [`node.id==${node}`] },
        LogDriver: { Name: 'json-file' },
      },
      Mode: { Replicated: { Replicas: 1 } },
    })) as { id?: string; ID?: string };
    const service = this.#docker.getService(created.id ?? created.ID ?? '');
    try {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const tasks = ((await this.#docker.listTasks({ filters: JSON.stringify({ service: [service.id] }) })) as unknown[]).map(toSwarmTask);
        const state = tasks[0]?.Status.State;
        if (state && terminalStates.has(state)) {
          if (state !== 'complete') this.#log.warn({ buildId, node, state, err: tasks[0]?.Status.Err }, 'Emptying a remote workspace did not complete');
          return;
        }
        if (Date.now() > deadline) throw new Error(`no result within ${timeoutMs} ms (task ${state ?? 'not scheduled'})`);
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      await ignoreNotFound(() => service.remove());
    }
  }
}

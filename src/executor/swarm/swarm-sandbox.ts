import type Docker from 'dockerode';
import type { CreateServiceOptions } from 'dockerode';
import { labelKeys, containerSecretsDir, type StepSpec } from '../executor.js';
import { containerEnv, workspaceMount } from '../container/isolation.js';
import { ignoreNotFound, removeContainer } from '../container/docker-errors.js';
import { sandboxIdleCommand, sandboxIdleUser } from '../container/sandbox-script.js';
import { terminalStates, toSwarmTask } from './swarm-task.js';
import { toServiceSpec, type ServiceTarget } from './to-service-spec.js';

/**
 * A stage sandbox as a one-shot Swarm service (pure): a step service's spec (`toServiceSpec`:
 * its isolation, limits, network, workspace volume, placement, `RestartPolicy: none`) with the
 * idle process as `nobody` instead of a script, no env but HOME, and a tmpfs at /run/secrets
 * (mode 1777: a service's tmpfs cannot be given an owner; secret files in it are 0600, the step
 * user's) for the steps' secrets, written through each step's exec.
 */
export function toSandboxServiceSpec(spec: StepSpec, target: ServiceTarget, secretsMib: number): CreateServiceOptions {
  const base = toServiceSpec({ ...spec, commands: [], env: {}, secrets: [] }, target);
  const task = base.TaskTemplate as Docker.ContainerTaskSpec;
  const container = task.ContainerSpec!;
  return {
    ...base,
    TaskTemplate: {
      ...task,
      ContainerSpec: {
        ...container,
        Command: [sandboxIdleCommand[0]!],
        Args: sandboxIdleCommand.slice(1),
        Env: containerEnv({}),
        User: sandboxIdleUser,
        Dir: workspaceMount,
        Mounts: [
          ...(container.Mounts ?? []),
          { Type: 'tmpfs', Source: '', Target: containerSecretsDir, TmpfsOptions: { SizeBytes: secretsMib * 2 ** 20, Mode: 0o1777 } },
        ],
      },
    },
  };
}

/** Where a sandbox service's task runs, once it runs. */
export interface RunningTask {
  nodeId: string;
  containerId: string;
}

/**
 * Waits until the service's one task runs (polled every 100 ms, up to `timeoutMs`); throws
 * when it ended instead or never got there.
 */
export async function waitForRunningTask(docker: Docker, serviceId: string, timeoutMs: number): Promise<RunningTask> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const tasks = ((await docker.listTasks({ filters: JSON.stringify({ service: [serviceId] }) })) as unknown[])
      .map(toSwarmTask)
      .filter((t) => t !== undefined);
    const task = tasks[0];
    const state = task?.Status.State;
    if (task && state === 'running' && task.NodeID && task.Status.ContainerStatus?.ContainerID) {
      return { nodeId: task.NodeID, containerId: task.Status.ContainerStatus.ContainerID };
    }
    if (task && state && terminalStates.has(state)) throw new Error(`the sandbox task ended ${state}${task.Status.Err ? `: ${task.Status.Err}` : ''}`);
    if (Date.now() > deadline) throw new Error(`the sandbox task was not running after ${Math.round(timeoutMs / 1000)} s (state ${state ?? 'none'})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Removes a sandbox by one of its containers: the Swarm service behind it (through the manager
 * `docker`), else the container. The container is looked for on `docker`, then on `otherEngines`
 * (other nodes' engines, `swarm.nodeEngines`).
 */
export async function removeSandboxByContainer(docker: Docker, containerId: string, otherEngines: readonly Docker[] = []): Promise<void> {
  let serviceId: string | undefined;
  for (const engine of [docker, ...otherEngines]) {
    try {
      serviceId = (await engine.getContainer(containerId).inspect()).Config.Labels?.['com.docker.swarm.service.id'];
      if (serviceId) break;
    } catch {
      serviceId = undefined;
    }
  }
  if (serviceId) await ignoreNotFound(() => docker.getService(serviceId).remove());
  else await removeContainer(docker.getContainer(containerId));
}

/** Removes this instance's sandbox services carrying all of `labels` (a stage's or a build's). */
export async function removeSandboxServices(docker: Docker, instanceId: string, labels: Record<string, string>): Promise<void> {
  const filters = [
    `${labelKeys.managed}=true`,
    `${labelKeys.instance}=${instanceId}`,
    labelKeys.sandbox,
    ...Object.entries(labels).map(([k, v]) => `${k}=${v}`),
  ];
  const services = await docker.listServices({ filters: JSON.stringify({ label: filters }) });
  await Promise.all(services.map((s) => ignoreNotFound(() => docker.getService(s.ID).remove())));
}

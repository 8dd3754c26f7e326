import Docker from 'dockerode';
import { test } from 'node:test';
import { labelKeys } from '../../src/executor/executor.js';
import { buildConfigNetworkName, buildNetworkName, workspaceMarkerName, workspaceVolumeName } from '../../src/executor/container/resource-names.js';
import { runId, type IsolationFacts } from './contract-support.js';

export const busyboxImage = 'bosun/busybox:1';
export const baseImage = 'bosun/base:bookworm';
export const testInstanceId = `test-${runId}`;

/**
 * The engine for the Docker and Swarm suites. Under CI (CI=true) a missing engine or missing
 * base images fail loudly; elsewhere the suite is skipped with a message.
 */
export async function engineForTests(needSwarm: boolean): Promise<Docker | undefined> {
  const docker = new Docker();
  const problem = await engineProblem(docker, needSwarm);
  if (!problem) return docker;
  if (process.env.CI) {
    test('docker engine is available (required in CI)', () => {
      throw new Error(`${problem}; run scripts/docker-up.sh`);
    });
  } else {
    test(`docker executor suite skipped: ${problem} (run scripts/docker-up.sh)`, (t) => t.skip(problem));
  }
  return undefined;
}

async function engineProblem(docker: Docker, needSwarm: boolean): Promise<string | undefined> {
  try {
    await docker.ping();
  } catch (err) {
    return `no docker engine answers (${(err as Error).message})`;
  }
  for (const image of [busyboxImage, baseImage]) {
    try {
      await docker.getImage(image).inspect();
    } catch {
      return `image ${image} is missing (scripts/build-base-images.sh)`;
    }
  }
  if (!needSwarm) return undefined;
  const info = (await docker.info()) as { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean } };
  if (info.Swarm?.LocalNodeState !== 'active' || !info.Swarm.ControlAvailable) return 'the engine is not a swarm manager';
  return undefined;
}

/** Containers carrying this build's label (step containers; not the workspace marker). */
export async function stepContainers(docker: Docker, buildId: string): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: JSON.stringify({ label: [`${labelKeys.build}=${buildId}`] }) });
  return list.filter((c) => c.Labels['bosun.role'] === undefined).map((c) => c.Names[0] ?? c.Id);
}

/** The build's network, volume and workspace marker, if any is left. */
export async function buildResources(docker: Docker, buildId: string): Promise<string[]> {
  const left: string[] = [];
  const networkNames = [buildNetworkName(testInstanceId, buildId), buildConfigNetworkName(testInstanceId, buildId)];
  const networks = await docker.listNetworks({ filters: JSON.stringify({ name: networkNames }) });
  left.push(...networks.filter((n) => networkNames.includes(n.Name)).map((n) => `network ${n.Name}`));
  const { Volumes: volumes } = await docker.listVolumes({ filters: JSON.stringify({ name: [workspaceVolumeName(testInstanceId, buildId)] }) });
  left.push(...(volumes ?? []).filter((v) => v.Name === workspaceVolumeName(testInstanceId, buildId)).map((v) => `volume ${v.Name}`));
  const markers = await docker.listContainers({ all: true, filters: JSON.stringify({ name: [workspaceMarkerName(testInstanceId, buildId)] }) });
  left.push(...markers.map((c) => `container ${c.Names[0] ?? c.Id}`));
  return left;
}

/** Remove everything this test run's instance created, by label. */
export async function sweepInstance(docker: Docker, instanceId = testInstanceId): Promise<void> {
  const label = JSON.stringify({ label: [`${labelKeys.instance}=${instanceId}`] });
  const info = (await docker.info()) as { Swarm?: { ControlAvailable?: boolean } };
  if (info.Swarm?.ControlAvailable) {
    for (const service of await docker.listServices({ filters: label }))
      await docker
        .getService(service.ID)
        .remove()
        .catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const secrets = (await docker.listSecrets({ filters: label })) as unknown as Array<{ ID: string }>;
    for (const secret of secrets)
      await docker
        .getSecret(secret.ID)
        .remove()
        .catch(() => undefined);
  }
  for (const c of await docker.listContainers({ all: true, filters: label }))
    await docker
      .getContainer(c.Id)
      .remove({ force: true })
      .catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const { Volumes: volumes } = await docker.listVolumes({ filters: label });
  for (const v of volumes ?? [])
    await docker
      .getVolume(v.Name)
      .remove()
      .catch(() => undefined);
  // Swarm-scoped bridges cannot carry labels: sweep this run's networks by name, then the labelled config networks.
  const networks = await docker.listNetworks();
  const ours = networks.filter((n) => n.Name.startsWith(`bosun-${instanceId.toLowerCase()}`.slice(0, 26)));
  for (const n of ours)
    await docker
      .getNetwork(n.Id)
      .remove()
      .catch(() => undefined);
  // A config network can go only once the swarm network made from it is gone, which the manager
  // finishes a moment after the remove returned: retried, for at most 20 s.
  for (let deadline = Date.now() + 20_000; ;) {
    const left = await docker.listNetworks({ filters: label });
    for (const n of left)
      await docker
        .getNetwork(n.Id)
        .remove()
        .catch(() => undefined);
    if (left.length === 0 || Date.now() > deadline || (await docker.listNetworks({ filters: label })).length === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Isolation facts of a plain container, read back from the engine. */
export async function containerIsolation(docker: Docker, id: string): Promise<IsolationFacts> {
  const info = await docker.getContainer(id).inspect();
  const host = info.HostConfig as Docker.HostConfig & { Mounts?: Array<{ Type?: string }> };
  const networks = Object.values(info.NetworkSettings.Networks ?? {});
  const internal = await Promise.all(networks.map(async (n) => ((await docker.getNetwork(n.NetworkID).inspect()) as { Internal?: boolean }).Internal === true));
  return {
    privileged: host.Privileged === true,
    capAdd: host.CapAdd ?? [],
    capDrop: host.CapDrop ?? [],
    bindMounts: [...(host.Binds ?? []), ...(info.Mounts ?? []).filter((m) => m.Type === 'bind').map((m) => m.Source)],
    readonlyRootfs: host.ReadonlyRootfs === true,
    user: info.Config.User ?? '',
    pidsLimit: host.PidsLimit ?? 0,
    memoryBytes: host.Memory ?? 0,
    nanoCpus: host.NanoCpus ?? 0,
    networksInternal: internal,
  };
}

/** Live services carrying this build's label. */
export async function stepServices(docker: Docker, buildId: string): Promise<string[]> {
  const list = await docker.listServices({ filters: JSON.stringify({ label: [`${labelKeys.build}=${buildId}`] }) });
  return list.map((s) => s.Spec?.Name ?? s.ID);
}

/** Isolation facts of a step service: its spec, and the real task container behind it. */
export async function serviceIsolation(docker: Docker, serviceId: string): Promise<IsolationFacts> {
  const service = (await docker.getService(serviceId).inspect()) as { Spec: Docker.ServiceSpec };
  const task = service.Spec.TaskTemplate as Docker.ContainerTaskSpec;
  const spec = task.ContainerSpec ?? {};
  const limits = task.Resources?.Limits ?? {};
  let containerId: string | undefined;
  for (let i = 0; i < 600 && !containerId; i += 1) {
    const tasks = (await docker.listTasks({ filters: JSON.stringify({ service: [serviceId] }) })) as Array<{
      Status?: { State?: string; ContainerStatus?: { ContainerID?: string } };
    }>;
    const running = tasks.find((t) => t.Status?.State === 'running');
    containerId = running?.Status?.ContainerStatus?.ContainerID;
    if (!containerId) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (!containerId) throw new Error('the task never ran');
  const container = await containerIsolation(docker, containerId);
  const networks = await Promise.all(
    (task.Networks ?? []).map(async (n) => ((await docker.getNetwork(n.Target ?? '').inspect()) as { Internal?: boolean }).Internal === true),
  );
  const mounts = (spec.Mounts ?? []) as Array<{ Type?: string; Source?: string }>;
  return {
    privileged: container.privileged,
    capAdd: [...(spec.CapabilityAdd ?? []), ...container.capAdd],
    capDrop: spec.CapabilityDrop ?? [],
    bindMounts: [...mounts.filter((m) => m.Type === 'bind').map((m) => m.Source ?? ''), ...container.bindMounts],
    readonlyRootfs: spec.ReadOnly === true && container.readonlyRootfs,
    user: spec.User ?? '',
    pidsLimit: Math.min(limits.Pids ?? 0, container.pidsLimit),
    memoryBytes: limits.MemoryBytes ?? 0,
    nanoCpus: limits.NanoCPUs ?? 0,
    networksInternal: [...networks, ...container.networksInternal.filter((internal) => !internal)],
  };
}

/** Step containers of this build that were made with secrets (an open stdin). */
export async function secretContainers(docker: Docker, buildId: string): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: JSON.stringify({ label: [`${labelKeys.build}=${buildId}`] }) });
  const withStdin = await Promise.all(
    list.map(async (c) =>
      (
        await docker
          .getContainer(c.Id)
          .inspect()
          .catch(() => undefined)
      )?.Config.OpenStdin
        ? c.Id
        : undefined,
    ),
  );
  return withStdin.filter((id): id is string => id !== undefined);
}

/** Docker secrets labelled with this build. */
export async function buildSecrets(docker: Docker, buildId: string): Promise<string[]> {
  const list = (await docker.listSecrets({ filters: JSON.stringify({ label: [`${labelKeys.build}=${buildId}`] }) })) as unknown as Array<{ ID: string }>;
  return list.map((s) => s.ID);
}

/** A service, its task containers and the Docker secrets it references, as inspect shows them. */
export async function serviceInspectText(docker: Docker, serviceId: string): Promise<string> {
  const service = (await docker.getService(serviceId).inspect()) as { Spec: Docker.ServiceSpec };
  const tasks = (await docker.listTasks({ filters: JSON.stringify({ service: [serviceId] }) })) as Array<{
    Status?: { ContainerStatus?: { ContainerID?: string } };
  }>;
  const containers = await Promise.all(
    tasks
      .map((t) => t.Status?.ContainerStatus?.ContainerID)
      .filter(Boolean)
      .map((id) => docker.getContainer(id!).inspect()),
  );
  const refs = ((service.Spec.TaskTemplate as Docker.ContainerTaskSpec).ContainerSpec?.Secrets ?? []) as Array<{ SecretID?: string }>;
  const secrets = await Promise.all(refs.map((r) => docker.getSecret(r.SecretID ?? '').inspect()));
  return JSON.stringify({ service, tasks, containers, secrets });
}

/** The container id behind a `docker:` or `sandbox:` ref. */
export function containerOfRef(ref: string): string {
  return ref.replace(/^docker:/, '').replace(/^sandbox:([0-9a-f]+):[0-9a-f]+$/, '$1');
}

/** Stage sandbox containers of this build (names). */
export async function sandboxContainers(docker: Docker, buildId: string): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: JSON.stringify({ label: [`${labelKeys.build}=${buildId}`, labelKeys.sandbox] }) });
  return list.map((c) => c.Names[0] ?? c.Id);
}

/**
 * What is left of this build's steps: step containers, and processes of the step user (uid
 * 1000) inside its stage sandboxes (the sandbox's own idle process runs as nobody).
 */
export async function stepProcesses(docker: Docker, buildId: string): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: JSON.stringify({ label: [`${labelKeys.build}=${buildId}`] }) });
  const left: string[] = [];
  for (const c of list) {
    if (c.Labels['bosun.role'] !== undefined) continue;
    if (c.Labels[labelKeys.sandbox] === undefined) {
      left.push(c.Names[0] ?? c.Id);
      continue;
    }
    if (c.State !== 'running') continue;
    const top = (await docker
      .getContainer(c.Id)
      .top({ ps_args: '-o pid,uid,args' })
      .catch(() => undefined)) as { Titles?: string[]; Processes?: string[][] } | undefined;
    const uid = top?.Titles?.indexOf('UID') ?? -1;
    for (const p of top?.Processes ?? []) if (uid >= 0 && p[uid] === '1000') left.push(`${c.Names[0] ?? c.Id}: ${p.join(' ')}`);
  }
  return left;
}

/** Secret files left in this build's running stage sandboxes (`/run/secrets`). */
export async function sandboxSecretFiles(docker: Docker, buildId: string): Promise<string[]> {
  const list = await docker.listContainers({ filters: JSON.stringify({ label: [`${labelKeys.build}=${buildId}`, labelKeys.sandbox] }) });
  const files: string[] = [];
  for (const c of list) {
    const { runInSandbox } = await import('../../src/executor/container/sandbox-step.js');
    const { stdout } = await runInSandbox(docker.getContainer(c.Id), ['/bin/sh', '-c', 'ls -A /run/secrets'], 30_000).catch(() => ({ stdout: '' }));
    files.push(...stdout.split('\n').filter(Boolean));
  }
  return files;
}

/** Stage sandbox services of this build (names). */
export async function sandboxServices(docker: Docker, buildId: string): Promise<string[]> {
  const list = await docker.listServices({ filters: JSON.stringify({ label: [`${labelKeys.build}=${buildId}`, labelKeys.sandbox] }) });
  return list.map((s) => s.Spec?.Name ?? s.ID);
}

/** The Swarm service a task container belongs to. */
export async function serviceOfContainer(docker: Docker, containerId: string): Promise<string> {
  const info = await docker.getContainer(containerId).inspect();
  return info.Config.Labels?.['com.docker.swarm.service.id'] ?? '';
}

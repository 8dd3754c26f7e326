import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { BuildNetworks } from '../src/executor/container/build-network.js';
import type { StepSpec } from '../src/executor/executor.js';
import { toServiceSpec } from '../src/executor/swarm/to-service-spec.js';

const execFileAsync = promisify(execFile);

/** Labels on everything the floor creates, so the bench can sweep what it left. */
export const benchLabel = 'bench.instance';

export interface FloorRun {
  /** Epoch ms when the run was asked for. */
  t0: number;
  /** Wall time to the end (container gone / service complete and removed), ms. */
  totalMs: number;
  /** Key for `ContainerStarts`. */
  startKey: string;
}

/** Floor A: `docker run --rm <imageId> true` through the CLI. */
export async function dockerRunOnce(imageId: string, benchId: string, runId: string): Promise<FloorRun> {
  const t0 = Date.now();
  const started = performance.now();
  await execFileAsync('docker', ['run', '--rm', '--label', `${benchLabel}=${benchId}`, '--label', `bench.run=${runId}`, imageId, 'true']);
  return { t0, totalMs: performance.now() - started, startKey: `bench:${runId}` };
}

const terminal = new Set(['complete', 'failed', 'rejected', 'shutdown', 'orphaned', 'remove']);

let localNode: Promise<string> | undefined;

/** This engine's swarm node ID (the swarm executor pins steps to it; so does the floor). */
function localNodeId(docker: Docker): Promise<string> {
  localNode ??= docker.info().then((info: { Swarm?: { NodeID?: string } }) => info.Swarm?.NodeID ?? '');
  return localNode;
}

/**
 * Floor B: a bare one-shot Swarm service through the API (Replicated, one replica,
 * RestartPolicy none, image by ID, json-file logs, placed on this engine's node as the swarm
 * executor places steps, so a second node without the image cannot reject it), its task polled every 100 ms (as the
 * swarm executor does) until terminal, then removed.
 */
export async function bareServiceOnce(
  docker: Docker,
  imageId: string,
  benchId: string,
  runId: string,
  pollMs = 100,
  extra: { Networks?: { Target: string }[]; Mounts?: { Type: 'volume'; Source: string; Target: string }[] } = {},
): Promise<FloorRun> {
  const labels = { [benchLabel]: benchId, 'bench.run': runId };
  const nodeId = await localNodeId(docker);
  const t0 = Date.now();
  const started = performance.now();
  const created = (await docker.createService({
    Name: `bench-${runId}`,
    Labels: labels,
    TaskTemplate: {
      ContainerSpec: { Image: imageId, Command: ['true'], Labels: labels, ...(extra.Mounts ? { Mounts: extra.Mounts } : {}) },
      ...(extra.Networks ? { Networks: extra.Networks } : {}),
      RestartPolicy: { Condition: 'none', MaxAttempts: 0 },
      ...(nodeId ? { Placement: { Constraints: [`node.id==${nodeId}`] } } : {}),
      LogDriver: { Name: 'json-file' },
    },
    Mode: { Replicated: { Replicas: 1 } },
  })) as { id?: string; ID?: string };
  await toCompletion(docker, created.id ?? created.ID ?? '', `bare service ${runId}`, pollMs);
  return { t0, totalMs: performance.now() - started, startKey: `bench:${runId}` };
}

/** Polls a one-shot service's task every `pollMs` until it is terminal (it must be `complete`), then removes the service. */
async function toCompletion(docker: Docker, id: string, what: string, pollMs: number): Promise<void> {
  try {
    for (;;) {
      const tasks = (await docker.listTasks({ filters: JSON.stringify({ service: [id] }) })) as Array<{ Status?: { State?: string; Err?: string } }>;
      const state = tasks[0]?.Status?.State;
      if (state && terminal.has(state)) {
        if (state !== 'complete') throw new Error(`${what} ended ${state}${tasks[0]?.Status?.Err ? `: ${tasks[0].Status.Err}` : ''}`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  } finally {
    await docker
      .getService(id)
      .remove()
      .catch(() => undefined);
  }
}

/** Removes services and containers the floor left (by label). */
export async function sweepFloor(docker: Docker, benchId: string): Promise<void> {
  const filters = JSON.stringify({ label: [`${benchLabel}=${benchId}`] });
  for (const s of await docker.listServices({ filters }))
    await docker
      .getService(s.ID)
      .remove()
      .catch(() => undefined);
  for (const c of await docker.listContainers({ all: true, filters }))
    await docker
      .getContainer(c.Id)
      .remove({ force: true })
      .catch(() => undefined);
}

/**
 * Floor C: what any CI with Bosun's isolation must do for a one-step build, and nothing
 * else: the build's own network (`BuildNetworks`, as the swarm executor makes it) and an
 * empty volume, then one one-shot service with the swarm executor's full spec (`toServiceSpec`:
 * that network, the volume, limits, init, read-only root, tmpfs, capabilities dropped), polled
 * every 100 ms to completion and removed. No queue, checkout, fill, logs or state. The
 * network and volume are removed later by `IsolatedFloor.sweep` (untimed, as Bosun's
 * per-build cleanup runs after the build has finished). Bosun against this floor is its
 * own overhead; this floor against floor B is the price of isolation (R15, R16, R18).
 */
export class IsolatedFloor {
  readonly #docker: Docker;
  readonly #imageId: string;
  readonly #networks: BuildNetworks;
  readonly #made: string[] = [];
  readonly #benchId: string;

  constructor(docker: Docker, imageId: string, benchId: string) {
    this.#docker = docker;
    this.#imageId = imageId;
    this.#benchId = benchId;
    this.#networks = new BuildNetworks(docker, 'swarm-bridge', `${benchId}-iso`);
  }

  async once(runId: string, pollMs = 100): Promise<FloorRun> {
    const labels = { [benchLabel]: this.#benchId, 'bench.run': runId };
    const nodeId = await localNodeId(this.#docker);
    const t0 = Date.now();
    const started = performance.now();
    this.#made.push(runId);
    const volumeName = `bench-iso-${runId}`;
    const [networkId] = await Promise.all([this.#networks.ensure(runId), this.#docker.createVolume({ Name: volumeName, Labels: labels })]);
    const spec: StepSpec = {
      buildId: runId,
      stage: 'bench',
      step: 'floor',
      image: this.#imageId,
      commands: ['true'],
      env: {},
      workspace: '/nonexistent',
      workdir: '',
      timeoutSec: 600,
      limits: { cpus: 1, memoryBytes: 1024 * 1024 * 1024, pids: 512 },
      labels,
    };
    const options = toServiceSpec(spec, {
      name: `bench-iso-${runId}`,
      image: this.#imageId,
      networkId,
      volumeName,
      workdir: '',
      labels,
      constraints: nodeId ? [`node.id==${nodeId}`] : [],
      stopGraceMs: 10_000,
    });
    const created = (await this.#docker.createService(options)) as { id?: string; ID?: string };
    await toCompletion(this.#docker, created.id ?? created.ID ?? '', `isolated service ${runId}`, pollMs);
    return { t0, totalMs: performance.now() - started, startKey: `bench:${runId}` };
  }

  /** Removes the networks and volumes of the runs so far (not timed). */
  async sweep(): Promise<void> {
    for (const runId of this.#made.splice(0)) {
      await this.#networks.remove(runId).catch(() => undefined);
      for (let i = 0; i < 50; i++) {
        const gone = await this.#docker
          .getVolume(`bench-iso-${runId}`)
          .remove()
          .then(
            () => true,
            (err: { statusCode?: number }) => err.statusCode === 404,
          );
        if (gone) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }
}

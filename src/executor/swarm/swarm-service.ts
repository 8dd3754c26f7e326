import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { labelKeys, type OutputChunk, type ServiceHandle, type ServiceSpec, type ServiceState } from '../executor.js';
import { OutputQueue } from '../output-queue.js';
import { engineError, ignoreNotFound } from '../container/docker-errors.js';
import { containerEnv, stepHome, stepUser, tmpfsBytes, tmpfsTargets } from '../container/isolation.js';
import { healthcheckFor } from '../container/to-service-container-spec.js';
import { serviceLog, TaskLog } from './task-log.js';
import { toSwarmTask, type SwarmTask } from './swarm-task.js';

export interface SwarmServiceTarget {
  name: string;
  /** The service image by registry digest (every node pulls it). */
  image: string;
  /** The build's overlay; the service joins it with its name as an alias. */
  networkId: string;
  labels: Record<string, string>;
  /** The server's placement constraints (the service may land on any node they allow). */
  constraints: string[];
}

/**
 * A stage's service as a Swarm service (pure; unit-testable): multi-node, where a plain
 * container on Bosun's node would be out of reach of steps on other nodes' local bridges.
 * On the build's overlay with its name as an alias, DNS round robin (the name resolves to the
 * task's address on the overlay from any node). The isolation of `toServiceContainerSpec`
 * (step user, no capabilities, read-only root, tmpfs /tmp and HOME, limits, an init), readiness
 * by the same Docker health check: Swarm keeps a task `starting` until its container is
 * healthy and fails it when it turns unhealthy. `RestartPolicy: none`: a service that ends
 * stays ended, and the stage fails. `command` replaces the image's CMD (`Args`), as on Docker.
 */
export function toSwarmServiceSpec(spec: ServiceSpec, target: SwarmServiceTarget): Docker.CreateServiceOptions {
  const healthcheck = healthcheckFor(spec.ready);
  const tmpfsSize = tmpfsBytes(spec.limits.memoryBytes);
  return {
    Name: target.name,
    Labels: target.labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: target.image,
        Labels: target.labels,
        ...(spec.command ? { Args: spec.command } : {}),
        Env: containerEnv(spec.env),
        Dir: stepHome,
        User: stepUser,
        Init: true,
        TTY: false,
        OpenStdin: false,
        ReadOnly: true,
        StopSignal: 'SIGTERM',
        StopGracePeriod: 2e9,
        CapabilityDrop: ['ALL'],
        CapabilityAdd: [],
        ...(healthcheck ? { Healthcheck: healthcheck } : {}),
        Mounts: tmpfsTargets.map((path) => ({ Type: 'tmpfs' as const, Source: '', Target: path, TmpfsOptions: { SizeBytes: tmpfsSize, Mode: 0o1777 } })),
      },
      Resources: {
        Limits: { NanoCPUs: Math.round(spec.limits.cpus * 1e9), MemoryBytes: spec.limits.memoryBytes, Pids: spec.limits.pids },
      },
      RestartPolicy: { Condition: 'none', MaxAttempts: 0 },
      Placement: { Constraints: target.constraints },
      Networks: [{ Target: target.networkId, Aliases: [spec.name] }],
      LogDriver: { Name: 'json-file' },
    },
    EndpointSpec: { Mode: 'dnsrr' },
    Mode: { Replicated: { Replicas: 1 } },
  } as Docker.CreateServiceOptions;
}

export interface SwarmServiceOptions {
  instanceId: string;
  networkId: string;
  /** The service image by registry digest. */
  image: string;
  constraints: string[];
  /** How often `ready()`/`check()` look at the task (default 250 ms). */
  pollMs?: number;
}

/**
 * Starts a stage's service as a Swarm service (see `toSwarmServiceSpec`). Before creating it,
 * removes the services an earlier run of the same service left (same instance, build, stage and
 * name). Its log is read through Swarm's log broker (any node). `reap` and `cleanupBuild`
 * remove it by its labels like a step's service.
 */
export async function startSwarmService(docker: Docker, spec: ServiceSpec, opts: SwarmServiceOptions): Promise<ServiceHandle> {
  await removeSwarmServices(docker, opts.instanceId, { build: spec.buildId, stage: spec.stage, service: spec.name });
  const labels = {
    ...spec.labels,
    [labelKeys.managed]: 'true',
    [labelKeys.instance]: opts.instanceId,
    [labelKeys.build]: spec.buildId,
    [labelKeys.stage]: spec.stage,
    [labelKeys.service]: spec.name,
  };
  const options = toSwarmServiceSpec(spec, {
    name: swarmServiceName(spec),
    image: opts.image,
    networkId: opts.networkId,
    labels,
    constraints: opts.constraints,
  });
  try {
    const created = (await docker.createService(options)) as { id?: string; ID?: string };
    return new SwarmServiceHandle(docker, docker.getService(created.id ?? created.ID ?? ''), spec.ready.timeoutSec, opts.pollMs ?? 250);
  } catch (err) {
    throw engineError(`could not start service ${spec.name} of build ${spec.buildId}`, err);
  }
}

/** Removes this instance's stage services (Swarm services carrying `bosun.service`) matching every label given. Returns how many. */
export async function removeSwarmServices(docker: Docker, instanceId: string, match: { build?: string; stage?: string; service?: string }): Promise<number> {
  const label = [
    `${labelKeys.managed}=true`,
    `${labelKeys.instance}=${instanceId}`,
    match.service ? `${labelKeys.service}=${match.service}` : labelKeys.service,
  ];
  if (match.build) label.push(`${labelKeys.build}=${match.build}`);
  if (match.stage) label.push(`${labelKeys.stage}=${match.stage}`);
  const found = await docker.listServices({ filters: JSON.stringify({ label }) });
  for (const s of found) await ignoreNotFound(() => docker.getService(s.ID).remove());
  return found.length;
}

/** `bosun-<build>-<stage>-svc-<name>-<random>`, at most 63 characters. */
function swarmServiceName(spec: ServiceSpec): string {
  const slug = (v: string, max: number) =>
    v
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, max) || 'x';
  return `bosun-${slug(spec.buildId, 16)}-${slug(spec.stage, 10)}-svc-${slug(spec.name, 16)}-${randomBytes(4).toString('hex')}`;
}

const startingStates = new Set(['new', 'pending', 'assigned', 'accepted', 'preparing', 'ready', 'starting']);

/** One service's task: its log through the broker, readiness from the task state. */
class SwarmServiceHandle implements ServiceHandle {
  readonly ref: string;
  readonly output: AsyncIterable<OutputChunk>;
  readonly #docker: Docker;
  readonly #service: Docker.Service;
  readonly #log: TaskLog;
  readonly #timeoutSec: number;
  readonly #deadline: number;
  readonly #pollMs: number;
  #destroying: Promise<void> | undefined;

  constructor(docker: Docker, service: Docker.Service, timeoutSec: number, pollMs: number) {
    this.#docker = docker;
    this.#service = service;
    this.ref = `swarm:${service.id}`;
    this.#timeoutSec = timeoutSec;
    this.#deadline = Date.now() + timeoutSec * 1000;
    this.#pollMs = pollMs;
    const queue = new OutputQueue();
    this.output = queue;
    this.#log = new TaskLog(queue);
    this.#log.follow(serviceLog(service));
  }

  async ready(): Promise<ServiceState> {
    let last = 'no task yet';
    for (;;) {
      const task = await this.#task();
      const state = stateOf(task);
      if (state.state !== 'starting') return state;
      if (task) last = task.Status.State;
      if (Date.now() >= this.#deadline) return { state: 'timeout', detail: `not ready after ${this.#timeoutSec} s (its task was ${last})` };
      await new Promise((resolve) => setTimeout(resolve, this.#pollMs));
    }
  }

  async check(): Promise<ServiceState> {
    if (this.#destroying) return { state: 'exited', detail: 'removed' };
    return stateOf(await this.#task());
  }

  destroy(): Promise<void> {
    this.#destroying ??= (async () => {
      // Its whole log first (it goes with the service), bounded: a node that is gone may not answer.
      await Promise.race([this.#log.finish(), new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
      await ignoreNotFound(() => this.#service.remove());
      this.#log.abort();
    })();
    return this.#destroying;
  }

  async #task(): Promise<SwarmTask | undefined> {
    try {
      const tasks = ((await this.#docker.listTasks({ filters: JSON.stringify({ service: [this.#service.id] }) })) as unknown[]).map(toSwarmTask);
      return tasks.find((t) => t !== undefined);
    } catch (err) {
      throw engineError(`could not inspect the task of service ${this.#service.id}`, err);
    }
  }
}

function stateOf(task: SwarmTask | undefined): ServiceState {
  if (!task || startingStates.has(task.Status.State)) return { state: 'starting' };
  const { State: state, Err: err, ContainerStatus: status } = task.Status;
  if (state === 'running') return { state: 'ready' };
  if (err && /unhealthy/i.test(err)) return { state: 'unhealthy', detail: `its health check failed (${err})` };
  if ((state === 'complete' || state === 'failed') && typeof status?.ExitCode === 'number')
    return { state: 'exited', detail: `it exited with code ${status.ExitCode}` };
  return { state: 'exited', detail: `its task ended ${state}${err ? `: ${err}` : ''}` };
}

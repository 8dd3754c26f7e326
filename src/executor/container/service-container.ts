import type Docker from 'dockerode';
import { randomBytes } from 'node:crypto';
import { labelKeys, type OutputChunk, type ServiceHandle, type ServiceSpec, type ServiceState } from '../executor.js';
import { OutputQueue } from '../output-queue.js';
import { pipeAttached } from './demuxer.js';
import { engineError, ignoreNotFound } from './docker-errors.js';
import { resolveImage } from './resolve-image.js';
import { toServiceContainerSpec } from './to-service-container-spec.js';

export interface ServiceContainerOptions {
  instanceId: string;
  /** The build's network (made by the executor's `BuildNetworks`). */
  networkId: string;
  /** How often `ready()` looks at the container (default 250 ms). */
  pollMs?: number;
}

/**
 * Starts a stage's service as a plain container on this engine, shared by the docker and swarm
 * executors. A plain container, not a Swarm service, on Swarm too: on the swarm-scoped bridge
 * a build's steps use, the embedded DNS answers for containers' network aliases (steps' tasks
 * included) but never for a Swarm service's name or its attachment `Aliases` (VIP or dnsrr;
 * checked on Engine 20.10), and the steps of a build all run on this node anyway.
 *
 * Before creating it, removes the containers an earlier run of the same service left (same
 * instance, build, stage and name): a resumed stage recreates its services. A failed start
 * removes what it created before throwing.
 */
export async function startServiceContainer(docker: Docker, spec: ServiceSpec, opts: ServiceContainerOptions): Promise<ServiceHandle> {
  const imageId = await resolveImage(docker, spec.image);
  await removeServiceContainers(docker, opts.instanceId, { build: spec.buildId, stage: spec.stage, service: spec.name });
  const labels = {
    ...spec.labels,
    [labelKeys.managed]: 'true',
    [labelKeys.instance]: opts.instanceId,
    [labelKeys.build]: spec.buildId,
    [labelKeys.stage]: spec.stage,
    [labelKeys.service]: spec.name,
  };
  const options = toServiceContainerSpec(spec, { name: serviceContainerName(spec), imageId, networkId: opts.networkId, labels });
  let container: Docker.Container | undefined;
  try {
    container = await docker.createContainer(options);
    const attached = await container.attach({ stream: true, stdout: true, stderr: true, hijack: true });
    const handle = new ServiceContainer(container, attached, spec.ready.timeoutSec, opts.pollMs ?? 250);
    await container.start().catch(async (err: unknown) => {
      await handle.destroy().catch(() => undefined);
      throw err;
    });
    return handle;
  } catch (err) {
    const created = container;
    if (created) await ignoreNotFound(() => created.remove({ force: true })).catch(() => undefined);
    throw engineError(`could not start service ${spec.name} of build ${spec.buildId}`, err);
  }
}

/** Force-removes this instance's service containers matching every label given. Returns how many. */
export async function removeServiceContainers(
  docker: Docker,
  instanceId: string,
  match: { build?: string; stage?: string; service?: string },
): Promise<number> {
  const label = [
    `${labelKeys.managed}=true`,
    `${labelKeys.instance}=${instanceId}`,
    match.service ? `${labelKeys.service}=${match.service}` : labelKeys.service,
  ];
  if (match.build) label.push(`${labelKeys.build}=${match.build}`);
  if (match.stage) label.push(`${labelKeys.stage}=${match.stage}`);
  const found = await docker.listContainers({ all: true, filters: JSON.stringify({ label }) });
  for (const info of found) await ignoreNotFound(() => docker.getContainer(info.Id).remove({ force: true }));
  return found.length;
}

/** `bosun-<build>-<stage>-svc-<name>-<random>`, at most 63 characters. */
function serviceContainerName(spec: ServiceSpec): string {
  const slug = (v: string, max: number) =>
    v
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, max) || 'x';
  return `bosun-${slug(spec.buildId, 16)}-${slug(spec.stage, 10)}-svc-${slug(spec.name, 16)}-${randomBytes(4).toString('hex')}`;
}

interface ContainerState {
  Running?: boolean;
  ExitCode?: number;
  OOMKilled?: boolean;
  Health?: { Status?: string; Log?: { ExitCode?: number; Output?: string }[] };
}

/** One running service container: its output (attached before start), readiness by inspection. */
class ServiceContainer implements ServiceHandle {
  readonly ref: string;
  readonly output: AsyncIterable<OutputChunk>;
  readonly #container: Docker.Container;
  readonly #attached: NodeJS.ReadableStream;
  readonly #queue: OutputQueue;
  readonly #deadline: number;
  readonly #timeoutSec: number;
  readonly #pollMs: number;
  #destroying: Promise<void> | undefined;

  constructor(container: Docker.Container, attached: NodeJS.ReadableStream, timeoutSec: number, pollMs: number) {
    this.#container = container;
    this.ref = `docker:${container.id}`;
    this.#attached = attached;
    this.#timeoutSec = timeoutSec;
    this.#deadline = Date.now() + timeoutSec * 1000;
    this.#pollMs = pollMs;
    const queue = new OutputQueue();
    this.#queue = queue;
    this.output = queue;
    pipeAttached(attached, queue);
  }

  async ready(): Promise<ServiceState> {
    for (;;) {
      const state = await this.check();
      if (state.state !== 'starting') return state;
      if (Date.now() >= this.#deadline) {
        const probe = lastProbe(await this.#inspect().catch(() => undefined));
        return { state: 'timeout', detail: `not ready after ${this.#timeoutSec} s${probe ? ` (last probe: ${probe})` : ''}` };
      }
      await new Promise((resolve) => setTimeout(resolve, this.#pollMs));
    }
  }

  async check(): Promise<ServiceState> {
    if (this.#destroying) return { state: 'exited', detail: 'removed' };
    const s = await this.#inspect();
    if (!s.Running) {
      return { state: 'exited', detail: s.OOMKilled ? 'it ran out of memory (OOM-killed)' : `it exited with code ${s.ExitCode ?? '?'}` };
    }
    const health = s.Health?.Status;
    if (health === 'starting') return { state: 'starting' };
    if (health === 'unhealthy') {
      const probe = lastProbe(s);
      return { state: 'unhealthy', detail: `its health check failed${probe ? ` (last probe: ${probe})` : ''}` };
    }
    return { state: 'ready' };
  }

  destroy(): Promise<void> {
    this.#destroying ??= (async () => {
      await ignoreNotFound(() => this.#container.remove({ force: true }));
      (this.#attached as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      this.#queue.end();
    })();
    return this.#destroying;
  }

  async #inspect(): Promise<ContainerState> {
    try {
      return (await this.#container.inspect()).State as ContainerState;
    } catch (err) {
      throw engineError(`could not inspect service container ${this.#container.id}`, err);
    }
  }
}

/** The last health probe's exit code and output, on one line (for the stage's log). */
function lastProbe(state: ContainerState | undefined): string | undefined {
  const last = state?.Health?.Log?.at(-1);
  if (!last) return undefined;
  const output = (last.Output ?? '').replace(/\s+/g, ' ').trim().slice(0, 300);
  return `exit ${last.ExitCode ?? '?'}${output ? `: ${output}` : ''}`;
}

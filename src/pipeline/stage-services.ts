import type { Build, StageRun } from '../domain/build.js';
import type { NetworkRequest, PlanService } from '../domain/plan.js';
import { findStage, findStep } from '../domain/build.js';
import { labelKeys, serviceStepName, type ServiceHandle, type ServiceSpec, type ServiceState } from '../executor/executor.js';
import { CodedError, UserError } from '../errors.js';
import { StepLogWriter } from '../logs/step-log-writer.js';
import type { WorkerDeps } from './pipeline-deps.js';
import { nowIso, setStepStatus } from './transition.js';

/** Why a service let the stage down. */
export interface ServiceFailure {
  service: string;
  image: string;
  state: Exclude<ServiceState['state'], 'ready' | 'starting'>;
  detail: string;
}

/** Lines of a failed service's log copied into the failing step's log. */
const failureTailLines = 20;

/**
 * A stage's service containers while its steps run. Each service's output goes, redacted, to
 * the log of the pseudo-step `service:<name>` of the stage (read like a step's log:
 * `bosun logs <build> <stage>/service:<name>`, the logs API, the web viewer).
 */
export class StageServices {
  readonly #deps: WorkerDeps;
  readonly #buildId: string;
  readonly #stage: string;
  /** The build's narrowing of the egress policy (its network may be made by a service first). */
  readonly #network: NetworkRequest | undefined;
  readonly #running: { plan: PlanService; handle: ServiceHandle; pump: Promise<void>; writer: StepLogWriter }[] = [];
  #stopped: Promise<void> | undefined;

  private constructor(deps: WorkerDeps, buildId: string, stage: string, network: NetworkRequest | undefined) {
    this.#deps = deps;
    this.#buildId = buildId;
    this.#stage = stage;
    this.#network = network;
  }

  /**
   * Starts every service of the stage (an earlier run's containers are replaced by the
   * executor). Throws a `UserError` when the executor cannot run services (`local`) or an
   * image is missing; whatever was started is stopped first.
   */
  static async start(deps: WorkerDeps, build: Build, stage: StageRun): Promise<StageServices> {
    const services = new StageServices(deps, build.id, stage.name, build.network);
    const startService = deps.executor.startService?.bind(deps.executor);
    if (!startService) {
      throw new UserError(
        'bad_request',
        `stage ${stage.name} asks for services, which the ${deps.executor.name} executor cannot isolate; run it on a docker or swarm worker`,
      );
    }
    try {
      for (const plan of stage.services ?? []) await services.#startOne(plan, startService);
    } catch (err) {
      await services.stop();
      throw err;
    }
    return services;
  }

  get size(): number {
    return this.#running.length;
  }

  /** Resolves once every service is ready (undefined), or with the first that never will be. */
  async ready(): Promise<ServiceFailure | undefined> {
    return new Promise<ServiceFailure | undefined>((resolve, reject) => {
      let pending = this.#running.length;
      if (pending === 0) resolve(undefined);
      for (const { plan, handle } of this.#running) {
        handle.ready().then((state) => {
          if (state.state !== 'ready' && state.state !== 'starting') resolve(failureOf(plan, state));
          else if (--pending === 0) resolve(undefined);
        }, reject);
      }
    });
  }

  /** The first service that is no longer ready (exited or unhealthy), if any. */
  async check(): Promise<ServiceFailure | undefined> {
    for (const { plan, handle } of this.#running) {
      const state = await handle.check();
      if (state.state !== 'ready' && state.state !== 'starting') return failureOf(plan, state);
    }
    return undefined;
  }

  /** Removes every service and archives their logs. Idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      const log = this.#deps.log.child({ buildId: this.#buildId, stage: this.#stage });
      await Promise.all(
        this.#running.map(async ({ plan, handle, pump, writer }) => {
          await handle.destroy().catch((err: unknown) => log.warn({ err, service: plan.name }, 'Removing the service failed'));
          await pump;
          await writer.close().catch((err: unknown) => log.warn({ err, service: plan.name }, 'Writing the service log failed'));
          await this.#deps.logs
            .finish(this.#buildId, this.#stage, serviceStepName(plan.name))
            .catch((err: unknown) => log.warn({ err }, 'Archiving the service log failed'));
        }),
      );
    })();
    return this.#stopped;
  }

  /** The last lines of a service's log (call after `stop`, so everything is flushed). */
  async tail(service: string, lines = failureTailLines): Promise<string[]> {
    const tail = await this.#deps.logs.tail(this.#buildId, this.#stage, serviceStepName(service), lines);
    return tail.map((l) => l.text);
  }

  async #startOne(plan: PlanService, startService: (spec: ServiceSpec) => Promise<ServiceHandle>): Promise<void> {
    const deps = this.#deps;
    const step = serviceStepName(plan.name);
    await deps.logs.reset(this.#buildId, this.#stage, step);
    const handle = await startService(serviceSpecFor(deps, this.#buildId, this.#stage, plan, this.#network)).catch((err: unknown) => {
      // Name the service in a user error (`image redis:7 is not available on this engine`).
      if (err instanceof CodedError && !err.retryable && !err.message.includes(`\`${plan.name}\``)) {
        throw new UserError(err.code, `service \`${plan.name}\`: ${err.message}`, { cause: err });
      }
      throw err;
    });
    const writer = new StepLogWriter({ append: (firstLine, lines) => deps.logs.append(this.#buildId, this.#stage, step, firstLine, lines) }, deps.secrets);
    const pump = (async () => {
      for await (const chunk of handle.output) writer.write(chunk);
    })().catch((err: unknown) => deps.log.warn({ err, buildId: this.#buildId, stage: this.#stage, service: plan.name }, 'Reading the service output failed'));
    this.#running.push({ plan, handle, pump, writer });
  }
}

function failureOf(plan: PlanService, state: ServiceState): ServiceFailure {
  const ended = state as Extract<ServiceState, { detail: string }>;
  return { service: plan.name, image: plan.image, state: ended.state, detail: ended.detail };
}

/** The spec of one service: the plan's asks within the server's step limits. */
export function serviceSpecFor(
  deps: Pick<WorkerDeps, 'config' | 'instanceId'>,
  buildId: string,
  stage: string,
  plan: PlanService,
  network?: NetworkRequest,
): ServiceSpec {
  const { limits } = deps.config;
  const memoryMb = Math.min(plan.limits.memoryMb ?? limits.memoryMb, limits.memoryMb);
  return {
    buildId,
    stage,
    name: plan.name,
    image: plan.image,
    env: plan.env,
    ...(plan.command ? { command: plan.command } : {}),
    ready: plan.ready,
    ...(network ? { network } : {}),
    limits: { cpus: Math.min(plan.limits.cpus ?? limits.cpus, limits.cpus), memoryBytes: memoryMb * 1024 * 1024, pids: limits.pids },
    labels: {
      [labelKeys.managed]: 'true',
      [labelKeys.instance]: deps.instanceId,
      [labelKeys.build]: buildId,
      [labelKeys.stage]: stage,
      [labelKeys.step]: serviceStepName(plan.name),
      [labelKeys.service]: plan.name,
    },
  };
}

/**
 * Fails the step that would have run next because a service let the stage down: its log says
 * which service, why, and ends with the service's last log lines. A user error (the spec's
 * service), so nothing is retried.
 */
export async function failStepOnService(
  deps: WorkerDeps,
  buildId: string,
  stage: string,
  step: string,
  failure: ServiceFailure,
  tail: string[],
): Promise<void> {
  const lines = [
    `bosun: the step did not run: service \`${failure.service}\` (${failure.image}) ${describeFailure(failure)}`,
    tail.length > 0
      ? `bosun: last ${tail.length} lines of its log (all of it: ${stage}/${serviceStepName(failure.service)}):`
      : 'bosun: it wrote nothing to its log',
    ...tail.map((line) => `${failure.service} | ${line}`),
  ];
  await failStepWith(deps, buildId, stage, step, lines, `service ${failure.service} ${describeFailure(failure)}`);
}

/** Records `step` as failed without running it (reason `service_failed` unless given), its log being `lines`. */
export async function failStepWith(
  deps: WorkerDeps,
  buildId: string,
  stage: string,
  step: string,
  lines: string[],
  detail: string,
  reason = 'service_failed',
): Promise<void> {
  const build = await deps.store.require(buildId);
  if ((findStep(build, stage, step)?.runs ?? 0) > 0) await deps.logs.reset(buildId, stage, step);
  const { build: current } = await deps.store.update(buildId, (b) => {
    const s = findStage(b, stage);
    const st = findStep(b, stage, step);
    if (!s || !st || (st.status !== 'pending' && st.status !== 'queued' && st.status !== 'running')) return null;
    st.runs += 1;
    delete st.executorRef;
    return setStepStatus(b, s, st, 'running', nowIso());
  });
  if (findStep(current, stage, step)?.status !== 'running') return;
  const writer = new StepLogWriter(
    {
      append: async (firstLine, batch) => {
        await deps.logs.append(buildId, stage, step, firstLine, batch);
        await deps.bus.publish({ type: 'log.chunk', buildId, stage, step, lines: batch, firstLine });
      },
    },
    deps.secrets,
  );
  for (const line of lines) writer.note(line);
  await writer.close();
  await deps.logs.finish(buildId, stage, step);
  await deps.store.update(buildId, (b) => {
    const s = findStage(b, stage);
    const st = findStep(b, stage, step);
    if (!s || !st || st.status !== 'running') return null;
    return setStepStatus(b, s, st, 'failed', nowIso(), { exitCode: -1, reason, detail });
  });
}

function describeFailure(f: ServiceFailure): string {
  switch (f.state) {
    case 'timeout':
      return `was never ready: ${f.detail}`;
    case 'unhealthy':
      return `became unhealthy: ${f.detail}`;
    default:
      return `stopped: ${f.detail}`;
  }
}

import type Docker from 'dockerode';
import { InfraError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Executor } from './executor.js';
import type { NetworkConfig } from './container/egress-policy.js';
import type { SandboxMode } from './container/sandbox-mode.js';
import { DockerExecutor, type DockerExecutorOptions } from './docker/docker-executor.js';
import { LocalExecutor } from './local/local-executor.js';
import { SwarmExecutor } from './swarm/swarm-executor.js';

export type ExecutorPreference = 'auto' | 'local' | 'docker' | 'swarm';

export interface SelectExecutorOptions {
  /** The engine client; null or absent means no engine is configured. */
  docker?: Docker | null;
  preferred?: ExecutorPreference;
  instanceId: string;
  dataDir: string;
  log: Logger;
  /** Grace between SIGTERM and SIGKILL when a step times out (default 10 s). */
  timeoutGraceMs?: number;
  /** Multi-node Swarm settings (registry, constraints); see `SwarmExecutorOptions`. */
  swarm?: { registry?: string; constraints?: string[]; unschedulableAfterMs?: number; nodeEngines?: Record<string, string> };
  /** The egress policy for container steps (server config `network`); absent: `none`. */
  egress?: NetworkConfig;
  /** How container executors run a stage's steps (server config `sandbox`); default `step`. */
  sandbox?: SandboxMode;
  /** The docker executor's warm pool (server config `sandboxPool`, docs/pool.md). */
  pool?: DockerExecutorOptions['pool'];
}

/**
 * Picks the executor. `auto` (the default): `swarm` when the engine is an active swarm
 * manager, `docker` when a plain engine answers, `local` when there is no engine (no client,
 * socket missing, ping fails or takes over 3 s). An explicit `docker` or `swarm` that the
 * engine cannot serve is an `InfraError` (never a silent fall-back to running steps unisolated).
 */
export async function selectExecutor(opts: SelectExecutorOptions): Promise<Executor> {
  const preferred = opts.preferred ?? 'auto';
  const local = (): Executor => new LocalExecutor({ instanceId: opts.instanceId, dataDir: opts.dataDir, log: opts.log, timeoutGraceMs: opts.timeoutGraceMs });
  if (preferred === 'local') return local();
  const engine = opts.docker ? await probeEngine(opts.docker) : { kind: 'none' as const, detail: 'no Docker engine configured' };
  if (engine.kind === 'none') {
    if (preferred !== 'auto') throw new InfraError('infra', `executor ${preferred} needs a Docker engine: ${engine.detail}`);
    opts.log.info({ detail: engine.detail }, 'No Docker engine; using the local executor');
    return local();
  }
  const docker = opts.docker!;
  const common = {
    docker,
    instanceId: opts.instanceId,
    log: opts.log,
    timeoutGraceMs: opts.timeoutGraceMs,
    ...(opts.egress ? { egress: opts.egress } : {}),
    ...(opts.sandbox ? { sandbox: opts.sandbox } : {}),
  };
  if (preferred === 'docker') return new DockerExecutor({ ...common, ...(opts.pool ? { pool: opts.pool } : {}) });
  if (engine.kind === 'swarm') return new SwarmExecutor({ ...common, ...opts.swarm });
  if (preferred === 'swarm') throw new InfraError('infra', 'executor swarm needs the engine to be a swarm manager (docker swarm init)');
  return new DockerExecutor(common);
}

type EngineKind = { kind: 'none'; detail: string } | { kind: 'swarm' } | { kind: 'plain' };

/** What the engine is: absent, a plain engine, or an active swarm manager. */
async function probeEngine(docker: Docker, timeoutMs = 3000): Promise<EngineKind> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([docker.ping(), timeout]);
    const info = (await Promise.race([docker.info(), timeout])) as { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean } };
    const manager = info.Swarm?.LocalNodeState === 'active' && info.Swarm.ControlAvailable === true;
    return manager ? { kind: 'swarm' } : { kind: 'plain' };
  } catch (err) {
    return { kind: 'none', detail: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

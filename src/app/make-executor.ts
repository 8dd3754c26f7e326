import Docker from 'dockerode';
import type { ServerConfig } from '../config.js';
import type { Logger } from '../logger.js';
import type { Executor } from '../executor/executor.js';
import { LocalExecutor } from '../executor/local/local-executor.js';
import { needsRules } from '../executor/container/egress-policy.js';
import { EgressRules } from '../executor/container/egress-rules.js';

/** The Docker client for `config.dockerHost` (unix socket or tcp). */
export function dockerClient(config: ServerConfig): Docker {
  const host = config.dockerHost;
  if (host.startsWith('unix://')) return new Docker({ socketPath: host.slice('unix://'.length) });
  const url = new URL(host.replace(/^tcp:/, 'http:'));
  return new Docker({ host: url.hostname, port: Number(url.port || 2375) });
}

/**
 * Swarm when the engine is a swarm manager, plain Docker when it is not, local without an engine.
 * Every executor gets `limits.killGraceSec` as its grace between SIGTERM and SIGKILL.
 * `pool: false`: no warm pool (docs/pool.md) even when `sandboxPool.size` asks for one (an
 * executor that runs no builds' stages, as the deploy manager's).
 */
export async function makeExecutor(config: ServerConfig, log: Logger, opts: { pool?: boolean } = {}): Promise<Executor> {
  if (config.executor === 'local') {
    return new LocalExecutor({ instanceId: config.instanceId, dataDir: config.dataDir, log, timeoutGraceMs: config.limits.killGraceSec * 1000 });
  }
  const { selectExecutor } = await import('../executor/select-executor.js');
  const { registry, constraints, unschedulableAfterSec, nodeEngines } = config.swarm;
  const executor = await selectExecutor({
    docker: dockerClient(config),
    preferred: config.executor,
    instanceId: config.instanceId,
    dataDir: config.dataDir,
    log,
    timeoutGraceMs: config.limits.killGraceSec * 1000,
    swarm: { ...(registry ? { registry } : {}), constraints, unschedulableAfterMs: unschedulableAfterSec * 1000, ...(nodeEngines ? { nodeEngines } : {}) },
    egress: config.network,
    sandbox: config.sandbox,
    ...(config.sandboxPool.size > 0 && opts.pool !== false
      ? {
          pool: {
            ...config.sandboxPool,
            limits: { cpus: config.limits.cpus, memoryBytes: config.limits.memoryMb * 1024 * 1024, pids: config.limits.pids },
          },
        }
      : {}),
  });
  log.info({ executor: executor.name, network: executor.network, sandbox: config.sandbox }, 'Executor selected');
  if (executor.name !== 'local' && needsRules(config.network)) {
    // Said once at startup as well as on every build that fails for it.
    const problem = await new EgressRules(config.network, config.instanceId).problem();
    if (problem) log.error({ problem }, 'Steps cannot get their egress rules on this host');
  }
  return executor;
}

import type Docker from 'dockerode';
import type { Deploy } from '../domain/deploy.js';
import { InfraError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { DeployTarget, TargetResult } from './deploy-target.js';
import type { SwarmServiceTarget } from './environment-config.js';

/** How often convergence is polled (`UpdateStatus`). */
const pollMs = 500;

interface ServiceInfo {
  Version: { Index: number };
  Spec: { TaskTemplate: { ContainerSpec: { Image: string } } } & Record<string, unknown>;
  PreviousSpec?: { Labels?: Record<string, string>; TaskTemplate?: { ContainerSpec?: { Image?: string } } };
  UpdateStatus?: { State?: string; Message?: string; StartedAt?: string; CompletedAt?: string };
}

/**
 * Deploys by updating an existing Swarm service to the digest, with `docker service update`
 * semantics through the engine API: one task at a time in the configured order, Swarm
 * watching each new task for `monitorSec` (a failed or unhealthy task fails the update),
 * `FailureAction: rollback` so Swarm itself puts the previous spec back, and Bosun waiting
 * for `UpdateStatus` to settle:
 * `completed` → succeeded; `rollback_completed` → rolled_back (the previous digest runs);
 * `paused` / `rollback_paused` or no settlement within `healthTimeoutSec` → failed.
 * The image is the digest reference and nothing else, so the service runs exactly what was
 * published.
 */
export class SwarmServiceDeployTarget implements DeployTarget {
  constructor(
    private readonly docker: Docker,
    private readonly cfg: SwarmServiceTarget,
    private readonly log: Logger,
  ) {}

  private async inspect(): Promise<ServiceInfo> {
    try {
      return (await this.docker.getService(this.cfg.name).inspect()) as ServiceInfo;
    } catch (err) {
      throw new InfraError('executor', `Swarm service "${this.cfg.name}" could not be inspected: ${(err as Error).message}`, { cause: err });
    }
  }

  async current(): Promise<string | null> {
    return (await this.inspect()).Spec.TaskTemplate.ContainerSpec.Image ?? null;
  }

  async apply(deploy: Deploy, signal: AbortSignal): Promise<TargetResult> {
    const info = await this.inspect();
    const image = info.Spec.TaskTemplate.ContainerSpec.Image;
    const state = info.UpdateStatus?.State;
    if (image === deploy.ref && state !== 'updating' && state !== 'rollback_started') {
      return { outcome: 'succeeded', reason: `${this.cfg.name} already runs this digest` };
    }
    const monitorNs = this.cfg.monitorSec * 1e9;
    const spec = structuredClone(info.Spec) as ServiceInfo['Spec'] & {
      TaskTemplate: Record<string, unknown> & { ContainerSpec: Record<string, unknown>; ForceUpdate?: number };
    };
    spec.TaskTemplate.ContainerSpec.Image = deploy.ref;
    spec.UpdateConfig = { Parallelism: 1, Delay: 0, Order: this.cfg.updateOrder, FailureAction: 'rollback', Monitor: monitorNs, MaxFailureRatio: 0 };
    spec.RollbackConfig = { Parallelism: 1, Delay: 0, Order: this.cfg.updateOrder, FailureAction: 'pause', Monitor: monitorNs, MaxFailureRatio: 0 };
    spec.Labels = { ...(spec.Labels as Record<string, string> | undefined), 'bosun.deploy': deployLabel(deploy), 'bosun.deploy.build': deploy.buildId };
    try {
      await this.docker.getService(this.cfg.name).update({ _query: { version: info.Version.Index }, _body: spec } as never);
    } catch (err) {
      throw new InfraError('executor', `Swarm refused the update of "${this.cfg.name}": ${(err as Error).message}`, { cause: err });
    }
    this.log.info({ service: this.cfg.name, deployId: deploy.id, ref: deploy.ref }, 'Swarm service update sent');
    return this.settle(deploy, signal, info.UpdateStatus?.StartedAt);
  }

  /** Polls until the update settles, the deadline passes, or `signal` aborts. */
  private async settle(deploy: Deploy, signal: AbortSignal, previousStart: string | undefined): Promise<TargetResult> {
    const deadline = Date.now() + this.cfg.healthTimeoutSec * 1000;
    while (!signal.aborted) {
      // Until Swarm starts this update, UpdateStatus still describes the previous one.
      const started = (await this.inspect()).UpdateStatus?.StartedAt;
      const seen = started === undefined || started === previousStart ? 'in_progress' : await this.observe(deploy);
      if (seen !== 'in_progress') return seen;
      if (Date.now() > deadline) {
        return { outcome: 'failed', reason: `${this.cfg.name} did not converge within ${this.cfg.healthTimeoutSec}s` };
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
    return { outcome: 'failed', reason: 'the deploy was interrupted' };
  }

  /**
   * Reads how this deploy's update stands. The update carries the deploy's id as the service
   * label `bosun.deploy`: in the spec while it rolls out or after it completed; a rollback
   * that started after the deploy did is its rollback. Neither (and the digest not running)
   * means the update never reached Swarm: nothing changed.
   */
  async observe(deploy: Deploy): Promise<TargetResult | 'in_progress'> {
    const info = await this.inspect();
    const image = info.Spec.TaskTemplate.ContainerSpec.Image;
    const st = info.UpdateStatus?.State;
    const msg = info.UpdateStatus?.Message ? `: ${info.UpdateStatus.Message}` : '';
    const ours = (info.Spec.Labels as Record<string, string> | undefined)?.['bosun.deploy'] === deployLabel(deploy);
    // After a rollback Swarm restores the previous spec and keeps no copy of ours: a rollback
    // that started after this deploy did is this deploy's (deploys of a service never overlap).
    const since = Date.parse(deploy.startedAt ?? deploy.createdAt);
    const oursBefore = info.PreviousSpec?.Labels?.['bosun.deploy'] === deployLabel(deploy) || Date.parse(info.UpdateStatus?.StartedAt ?? '') >= since;
    // Past its time (a runner died and nobody watched it settle): failed, so the environment is freed.
    const overdue = Date.now() - since > (this.cfg.healthTimeoutSec + 60) * 1000;
    const waiting = (): TargetResult | 'in_progress' =>
      overdue
        ? { outcome: 'failed', reason: `${this.cfg.name} did not settle within ${this.cfg.healthTimeoutSec}s (${st ?? 'no update status'})` }
        : 'in_progress';
    if (ours) {
      if (st === 'completed') return { outcome: 'succeeded' };
      if (st === 'paused') return { outcome: 'failed', reason: `the update of ${this.cfg.name} is paused${msg}` };
      return waiting(); // updating, not started yet, or a rollback of it starting
    }
    if (oursBefore && st?.startsWith('rollback')) {
      if (st === 'rollback_started') return waiting();
      if (st === 'rollback_completed') {
        return { outcome: 'rolled_back', reason: `the new task failed its health check or exited; Swarm rolled ${this.cfg.name} back to ${image}${msg}` };
      }
      return { outcome: 'failed', reason: `the rollback of ${this.cfg.name} is ${st}${msg}` };
    }
    if (image === deploy.ref && st !== 'updating' && st !== 'rollback_started')
      return { outcome: 'succeeded', reason: `${this.cfg.name} already ran this digest` };
    return { outcome: 'failed', reason: `the update never reached Swarm: ${this.cfg.name} still runs ${image}; nothing changed` };
  }
}

/** The service label naming the deploy an update belongs to: its id and creation time (unique across Bosun instances). */
export function deployLabel(deploy: Deploy): string {
  return `${deploy.id}@${deploy.createdAt}`;
}

import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Deploy } from '../domain/deploy.js';
import type { Executor, StepHandle, StepLimits } from '../executor/executor.js';
import type { Logger } from '../logger.js';
import type { DeployTarget, TargetResult } from './deploy-target.js';
import type { RunTarget } from './environment-config.js';

/** Lines of the deploy step's output kept for the deploy's reason when it fails. */
const tailLines = 5;

export interface RunTargetDeps {
  executor: () => Promise<Executor>;
  secrets: Record<string, string>;
  limits: StepLimits;
  /** Where empty workspaces for deploy steps are made. */
  workDir: string;
  instanceId: string;
  /** Receives every line the step prints (redacted by the caller's logger). */
  onLine?: (deploy: Deploy, line: string) => void;
  log: Logger;
}

/**
 * A deploy step: `commands` in `image` through the executor (the same one steps use), with
 * the environment's secrets as files (`$BOSUN_SECRETS_DIR/<NAME>`, also exported as the
 * variable `<NAME>`) and what to deploy in `BOSUN_DEPLOY_REF`, `BOSUN_DEPLOY_IMAGE`,
 * `BOSUN_DEPLOY_DIGEST`, `BOSUN_DEPLOY_SHA`, `BOSUN_DEPLOY_ENVIRONMENT`. Exit 0 = succeeded.
 * The step runs in an empty workspace: it deploys the image, not the repository.
 * A step cannot be observed after its runner died (`observe` reports failed, never re-runs it).
 */
export class RunDeployTarget implements DeployTarget {
  private last: string | null = null;
  constructor(
    private readonly environment: string,
    private readonly cfg: RunTarget,
    private readonly deps: RunTargetDeps,
  ) {}

  async current(): Promise<string | null> {
    return this.last;
  }

  async apply(deploy: Deploy, signal: AbortSignal): Promise<TargetResult> {
    const executor = await this.deps.executor();
    const workspace = join(this.deps.workDir, `deploy-${deploy.id}`);
    await mkdir(workspace, { recursive: true });
    const stepBuild = `deploy-${deploy.id}`;
    let handle: StepHandle | undefined;
    const tail: string[] = [];
    try {
      handle = await executor.start({
        buildId: stepBuild,
        stage: 'deploy',
        step: this.environment,
        image: this.cfg.image,
        commands: this.cfg.commands,
        env: {
          BOSUN_DEPLOY_REF: deploy.ref,
          BOSUN_DEPLOY_IMAGE: deploy.image,
          BOSUN_DEPLOY_DIGEST: deploy.digest,
          BOSUN_DEPLOY_SHA: deploy.sha,
          BOSUN_DEPLOY_ENVIRONMENT: deploy.environment,
          BOSUN_DEPLOY_ID: deploy.id,
        },
        workspace,
        workdir: '.',
        timeoutSec: this.cfg.timeoutSec,
        limits: this.deps.limits,
        labels: {
          'bosun.instance': this.deps.instanceId,
          'bosun.build': stepBuild,
          'bosun.stage': 'deploy',
          'bosun.step': this.environment,
          'bosun.deploy': deploy.id,
        },
        secrets: this.cfg.secrets.map((name) => ({ name, value: this.deps.secrets[name] ?? '', env: [name] })),
      });
      const h = handle;
      const onAbort = () => void h.stop(2000);
      signal.addEventListener('abort', onAbort, { once: true });
      let partial = '';
      for await (const chunk of h.output) {
        const lines = (partial + chunk.data.toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          this.deps.onLine?.(deploy, line);
          tail.push(line);
          if (tail.length > tailLines) tail.shift();
        }
      }
      if (partial) tail.push(partial);
      const outcome = await h.wait();
      signal.removeEventListener('abort', onAbort);
      if (outcome.exitCode === 0 && !outcome.reason) {
        this.last = deploy.ref;
        return { outcome: 'succeeded' };
      }
      const why = outcome.reason ? `${outcome.reason}` : `exit code ${outcome.exitCode}`;
      return { outcome: 'failed', reason: `the deploy step ended with ${why}${tail.length ? `; last lines: ${tail.join(' | ').slice(-400)}` : ''}` };
    } finally {
      await handle?.destroy().catch((err: unknown) => this.deps.log.warn({ err, deployId: deploy.id }, 'Removing the deploy step failed'));
      await executor.cleanupBuild(stepBuild).catch(() => undefined);
      await rm(workspace, { recursive: true, force: true });
    }
  }

  async observe(): Promise<TargetResult> {
    return {
      outcome: 'failed',
      reason: 'its deploy step was cut off with its runner; Bosun does not run a deploy step twice — check the environment and deploy again',
    };
  }
}

import type { Build } from '../domain/build.js';
import { shortSha } from '../domain/build.js';
import type { Deploy } from '../domain/deploy.js';
import { isDeployFinished, shortDigest } from '../domain/deploy.js';
import { UserError } from '../errors.js';
import type { DeployStageOutcome, StageDeployer } from '../pipeline/deploy-stage.js';
import type { DeployManager } from './deploy-manager.js';
import { pickImage } from './deploy-manager.js';
import type { DeployStore } from './deploy-store.js';
import type { Environments } from './environment-config.js';

/** How often the stage looks at its deploy while it waits. */
const POLL_MS = 500;

/**
 * Deploy stages over the DeployManager (see `StageDeployer` for the contract): the stage's
 * deploy is a deploy like any other (`kind: auto`, source `deploy-stage`, requested by whoever
 * triggered the build), with the stage and attempt recorded on it so that a stage run again
 * after a crash follows the deploy it had requested instead of asking for another.
 */
export class ManagerStageDeployer implements StageDeployer {
  constructor(
    private readonly deps: {
      manager: Pick<DeployManager, 'request' | 'finish'>;
      store: Pick<DeployStore, 'get' | 'history'>;
      environments: Environments;
      pollMs?: number;
    },
  ) {}

  async deploy(input: Parameters<StageDeployer['deploy']>[0]): Promise<{ outcome: DeployStageOutcome; reason?: string }> {
    const { build, stage, environment, onLine } = input;
    const refuse = (reason: string) => {
      onLine(`bosun: ${reason}`);
      return { outcome: 'failed' as const, reason };
    };
    const env = Object.hasOwn(this.deps.environments, environment) ? this.deps.environments[environment] : undefined;
    if (!env) return refuse(`environment ${environment} is not in server config; nothing deployed`);
    if (env.repo !== build.repo) return refuse(`environment ${environment} deploys ${env.repo}, not ${build.repo}; nothing deployed`);
    if (build.trigger.untrusted)
      return refuse('this build is untrusted (a fork or outside author, or approved with ok-to-test), and Bosun never deploys from one; nothing deployed');
    if (env.approvers)
      return refuse(
        `${environment} needs approval from "${env.approvers}": a build never deploys there by itself (use \`/ci promote\` or \`/ci deploy ${build.repo} to ${environment}\`); nothing deployed`,
      );

    let deploy = await this.earlier(build, stage, environment);
    if (deploy) {
      onLine(`bosun: this stage ran before and requested deploy #${deploy.id}: following it (never a second deploy)`);
    } else {
      const image = pickImage(build, env);
      if (!image) {
        const several = (build.published ?? []).filter((p) => p.kind === 'docker').length > 1;
        return refuse(
          several
            ? `build #${build.id} published several images; set environments.${environment}.image in server config to choose one; nothing deployed`
            : `build #${build.id} published no image${env.image ? ` ${env.image}` : ''} (a stage this one needs has \`publish: - docker\`); nothing deployed`,
        );
      }
      onLine(`bosun: deploying ${image.ref} (build #${build.id}, ${build.repo}@${shortSha(build.sha)}) to ${environment}`);
      try {
        const r = await this.deps.manager.request({
          repo: build.repo,
          environment,
          kind: 'auto',
          actor: build.trigger.actor,
          source: 'deploy-stage',
          publication: { build, image },
          stage: { name: stage, attempt: build.attempt },
          ...(build.trigger.chat ? { chat: build.trigger.chat } : {}),
        });
        deploy = r.deploy;
        onLine(`bosun: ${r.text}`);
      } catch (err) {
        if (err instanceof UserError) return refuse(err.message);
        throw err;
      }
    }
    await input.onDeploy(deploy.id);
    return this.follow(deploy, input.signal, onLine);
  }

  /** The deploy this stage asked for in this attempt already (it ran before, and its worker died). */
  private async earlier(build: Build, stage: string, environment: string): Promise<Deploy | undefined> {
    const history = await this.deps.store.history({ environment }, 200);
    return history.find((d) => d.buildId === build.id && d.stage?.name === stage && d.stage.attempt === build.attempt);
  }

  /** Waits for the deploy to end, writing a line per state it goes through. */
  private async follow(first: Deploy, signal: AbortSignal, onLine: (line: string) => void): Promise<{ outcome: DeployStageOutcome; reason?: string }> {
    let seen = first.state;
    let deploy: Deploy = first;
    const pollMs = this.deps.pollMs ?? POLL_MS;
    for (;;) {
      if (isDeployFinished(deploy.state)) break;
      if (signal.aborted) {
        const dropped = await this.deps.manager.finish(deploy.id, 'refused', 'the build that asked for it was cancelled before it started', [
          'queued',
          'awaiting_approval',
        ]);
        onLine(
          dropped
            ? `bosun: the build was cancelled; deploy #${deploy.id} had not started and will not`
            : `bosun: the build was cancelled; deploy #${deploy.id} had started and goes on (a deploy is never stopped half-way; \`envs\` shows how it ends)`,
        );
        return { outcome: 'cancelled' };
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, pollMs);
        function done() {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        }
        signal.addEventListener('abort', done, { once: true });
      });
      deploy = (await this.deps.store.get(deploy.id)) ?? deploy;
      if (deploy.state !== seen) {
        seen = deploy.state;
        if (!isDeployFinished(deploy.state)) onLine(`bosun: deploy #${deploy.id}: ${describeState(deploy)}`);
      }
    }
    const what = `${deploy.environment} ${deploy.repo}@${shortSha(deploy.sha)} (${shortDigest(deploy.digest)})`;
    if (deploy.state === 'succeeded') {
      onLine(`bosun: deploy #${deploy.id} succeeded: ${deploy.environment} runs ${deploy.ref}${deploy.reason ? ` (${deploy.reason})` : ''}`);
      return { outcome: 'success' };
    }
    const reason = `deploy #${deploy.id} of ${what} ${deploy.state.replace('_', ' ')}${deploy.reason ? `: ${deploy.reason}` : ''}`;
    onLine(`bosun: ${reason}`);
    return { outcome: 'failed', reason };
  }
}

function describeState(d: Deploy): string {
  switch (d.state) {
    case 'queued':
      return `queued (${d.environment} deploys one at a time)`;
    case 'running':
      return `${d.environment} is being updated to ${d.ref}`;
    case 'awaiting_approval':
      return 'waiting for approval';
    default:
      return d.state;
  }
}

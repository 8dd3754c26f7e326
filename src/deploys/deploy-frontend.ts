import type { DeployService, EnvironmentView } from '../../commands/deploy-service.js';
import type { FrontendFactory } from '../app/frontend.js';
import { dockerClient, makeExecutor } from '../app/make-executor.js';
import type { Core } from '../app/open-core.js';
import { isDeployFinished } from '../domain/deploy.js';
import type { Executor } from '../executor/executor.js';
import { createBuild } from '../pipeline/create-build.js';
import { GithubClient } from '../github/github-client.js';
import { isTerminal } from '../domain/status.js';
import { DeployManager, pickImage } from './deploy-manager.js';
import { DeployStore } from './deploy-store.js';
import type { DeployTarget } from './deploy-target.js';
import { SwarmServiceDeployTarget } from './swarm-service-target.js';
import { RunDeployTarget } from './run-deploy-target.js';
import { deployStepSecrets } from '../pipeline/repo-secret-grants.js';
import { githubDeployments } from './github-deployments.js';
import { provideDeploys } from './deploy-registry.js';
import { deployPromotion } from './promotion-deploy.js';
import type { Actor } from '../domain/build.js';

/** Who auto-deploys: Bosun itself (so any approver may approve an auto-deploy). */
const autoDeployer: Actor = { id: 'bosun:auto-deploy', name: 'Bosun (auto-deploy)' };

/**
 * Deploys as a server service: the manager (targets, GitHub Deployments, approvals through
 * approval builds), the `deploy` / `rollback` / `envs` / `lock` / `unlock` commands, a
 * subscriber that decides approvals and auto-deploys push builds, and the deploy watchdog.
 * Null when the server config has no environments.
 */
export const deployFrontend: FrontendFactory = (core) => {
  const environments = core.config.environments;
  if (Object.keys(environments).length === 0) return null;
  const manager = makeDeployManager(core);
  const service = deployService(core, manager);
  provideDeploys(core, service);
  let timer: NodeJS.Timeout | undefined;
  const log = core.log.child({ unit: 'deploys' });
  return {
    name: 'deploys',
    async start() {
      core.bus.subscribe({
        name: 'deploys',
        async handle(event) {
          if (event.type !== 'build.status' || !isTerminal(event.status)) return;
          const build = await core.store.get(event.buildId);
          if (!build) return;
          await manager.onBuildFinished(build);
          const productionBranch = core.config.github?.productionBranch;
          if (productionBranch) {
            await deployPromotion({ manager, builds: core.store, environments, productionBranch, log }, build).catch((err: unknown) =>
              log.warn({ err, buildId: build.id }, 'Deploying a promotion was refused'),
            );
          }
          if (build.status !== 'success' || build.trigger.event !== 'push') return;
          for (const [name, env] of Object.entries(environments)) {
            if (env.repo !== build.repo || env.autoDeploy?.branch !== build.ref || !pickImage(build, env)) continue;
            // The build's own deploy stage deployed it there already (docs/deploys.md): never twice.
            if (build.stages.some((s) => s.deploy === name)) continue;
            // The production push a promotion made: its approved digest is deployed already.
            if (await manager.hasPromotedCommit(name, build.sha)) continue;
            await manager
              .request({
                repo: build.repo,
                selector: build.id,
                environment: name,
                kind: 'auto',
                actor: autoDeployer,
                source: 'auto-deploy',
                ...(build.trigger.chat ? { chat: build.trigger.chat } : {}),
              })
              .then((r) => log.info({ buildId: build.id, environment: name, deployId: r.deploy.id }, 'Auto-deploy requested'))
              .catch((err: unknown) => log.warn({ err, buildId: build.id, environment: name }, 'Auto-deploy refused'));
          }
        },
      });
      const pass = () => manager.watchdogPass().catch((err: unknown) => log.warn({ err }, 'Deploy watchdog pass failed'));
      await pass();
      timer = setInterval(() => void pass(), core.config.queue.watchdogIntervalMs);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      await manager.close();
    },
  };
};

/** The manager with this server's targets, GitHub Deployments and approval builds. */
export function makeDeployManager(core: Core): DeployManager {
  const { config } = core;
  const log = core.log.child({ unit: 'deploys' });
  let executor: Promise<Executor> | undefined;
  const targets = new Map<string, DeployTarget>();
  const docker = dockerClient(config);
  const target = (name: string): DeployTarget => {
    let t = targets.get(name);
    if (t) return t;
    const env = config.environments[name]!;
    t =
      'swarmService' in env.target
        ? new SwarmServiceDeployTarget(docker, env.target.swarmService, log)
        : new RunDeployTarget(
            name,
            { ...env.target.run, secrets: deployStepSecrets(env.target.run.secrets, config.repos[env.repo]?.secrets, name) },
            {
              executor: () => (executor ??= makeExecutor(config, log, { pool: false })),
              secrets: config.secrets,
              instanceId: config.instanceId,
              workDir: `${config.dataDir}/deploys`,
              log,
              limits: { cpus: config.limits.cpus, memoryBytes: config.limits.memoryMb * 1024 * 1024, pids: config.limits.pids },
              onLine: (d, line) => log.info({ deployId: d.id, environment: name, line: core.redact(line) }, 'deploy step'),
            },
          );
    targets.set(name, t);
    return t;
  };
  const github = config.github;
  const githubClient = github
    ? new GithubClient({ baseUrl: github.apiUrl, maxRetryAfterSec: github.maxRetryAfterSec, ...(github.token ? { token: github.token } : {}) }, log)
    : undefined;
  return new DeployManager({
    environments: config.environments,
    approvalsRequired: (group) => config.approvals[group] ?? 1,
    store: new DeployStore(core.redis, core.prefix),
    builds: core.store,
    audit: core.audit,
    log,
    target,
    approvalTimeoutSec: github?.promotionTimeoutSec ?? 24 * 3600,
    approvalBuilds: {
      async create(input) {
        const { build } = await createBuild(core.deps, {
          repo: input.repo,
          ref: input.ref,
          sha: input.sha,
          plan: input.plan,
          trigger: { event: 'manual', source: input.source, actor: input.actor, ...(input.chat ? { chat: input.chat } : {}) },
        });
        if (!build) throw new Error('the approval build was not created');
        return build;
      },
    },
    ...(githubClient && github
      ? {
          github: githubDeployments(githubClient, {
            isGithubRepo: (repo) => repo.includes('/') && config.repos[repo] !== undefined,
            production: (env) => config.environments[env]?.autoDeploy?.branch === github.productionBranch,
          }),
        }
      : {}),
  });
}

/** The command-facing service over the manager. */
export function deployService(core: Core, manager: DeployManager): DeployService {
  const store = new DeployStore(core.redis, core.prefix);
  const isMember = (group: string, id: string) => (core.config.groups[group] ?? []).includes(id);
  return {
    deploy: (input, ctx) => manager.request({ ...input, kind: 'deploy', actor: ctx.actor, source: ctx.source, ...(ctx.chat ? { chat: ctx.chat } : {}) }),
    rollback: (input, ctx) => manager.rollback({ ...input, actor: ctx.actor, source: ctx.source, ...(ctx.chat ? { chat: ctx.chat } : {}) }),
    async environments(repo) {
      const out: EnvironmentView[] = [];
      for (const [name, env] of Object.entries(core.config.environments)) {
        if (env.repo !== repo) continue;
        const hist = await store.history({ environment: name }, 50);
        const current = hist.find((d) => d.state === 'succeeded');
        const pending = hist.filter((d) => !isDeployFinished(d.state));
        const lock = await store.getLock(name);
        out.push({
          name,
          repo,
          ...(current ? { current } : {}),
          ...(pending.length ? { pending } : {}),
          ...(lock ? { lock } : {}),
          ...(env.approvers ? { approvers: env.approvers } : {}),
          ...(env.autoDeploy ? { autoDeployBranch: env.autoDeploy.branch } : {}),
        });
      }
      return out;
    },
    async lock(environment, reason, ctx) {
      const { lock, already } = await manager.lock(environment, reason, ctx.actor, ctx.source);
      return already
        ? `${environment} is already locked by ${lock.by.name} since ${lock.at}: ${lock.reason}`
        : `${environment} is locked: deploys there are refused until \`/ci unlock ${environment}\` (reason: ${reason}).`;
    },
    async unlock(environment, ctx) {
      const was = await manager.unlock(environment, ctx.actor, ctx.source, (group) => isMember(group, ctx.actor.id));
      return was ? `${environment} is unlocked (it was locked by ${was.by.name}: ${was.reason}).` : `${environment} was not locked.`;
    },
  };
}

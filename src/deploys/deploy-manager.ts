import { randomUUID } from 'node:crypto';
import type { Actor, Build } from '../domain/build.js';
import { shortSha } from '../domain/build.js';
import type { Deploy, DeployState } from '../domain/deploy.js';
import { isDeployFinished, shortDigest } from '../domain/deploy.js';
import type { DockerPublication } from '../domain/publication.js';
import type { ExecutionPlan } from '../domain/plan.js';
import { UserError, asCodedError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { AuditLog } from '../storage/audit-log.js';
import type { BuildStore } from '../storage/build-store.js';
import type { DeployStore, EnvironmentLock } from './deploy-store.js';
import type { DeployTarget } from './deploy-target.js';
import type { EnvironmentConfig, Environments } from './environment-config.js';

/** GitHub Deployments, as the manager uses them (src/github implements it). Failures are logged, never fail a deploy. */
export interface DeploymentReporter {
  /** Creates the GitHub deployment for a deploy; returns its id, or null when the repo is not on GitHub. */
  created(deploy: Deploy): Promise<number | null>;
  status(deploy: Deploy, state: 'queued' | 'in_progress' | 'success' | 'failure' | 'error', description: string): Promise<void>;
}

/** Makes and reads the approval build of a deploy (a one-stage build holding a checkpoint). */
export interface ApprovalBuilds {
  create(input: {
    repo: string;
    ref: string;
    sha: string;
    plan: ExecutionPlan;
    actor: Actor;
    source: string;
    chat?: { platform: string; channel: string; thread?: string };
  }): Promise<Build>;
}

export interface DeployManagerDeps {
  environments: Environments;
  /** N of M: passes an approver group needs (`approvals:`), default 1. */
  approvalsRequired: (group: string) => number;
  store: DeployStore;
  builds: Pick<BuildStore, 'get' | 'list'>;
  audit: Pick<AuditLog, 'record'>;
  log: Logger;
  target: (environment: string) => DeployTarget;
  approvalBuilds?: ApprovalBuilds;
  github?: DeploymentReporter;
  /** The mutex lease (ms); renewed every third of it while a deploy runs. Default 30 s. */
  leaseMs?: number;
  /** How long an approval stays open (s). */
  approvalTimeoutSec?: number;
}

export interface DeployRequest {
  repo: string;
  /** `<build id>`, `#<build id>`, a commit sha (prefix), or `sha256:<digest>`; absent = newest deployable build. */
  selector?: string;
  environment: string;
  kind: Deploy['kind'];
  actor: Actor;
  source: string;
  chat?: { platform: string; channel: string; thread?: string };
  /** For `rollback`: deploy exactly this publication (taken from history). */
  publication?: { build: Build; image: DockerPublication };
  /**
   * Approvals already given for exactly this commit (a promotion's checkpoint): they stand
   * for the environment's approval when they come from its approver group, are enough, and
   * none is the requester's.
   */
  approvedBy?: { group: string; approvals: { actor: Actor; at: string }[] };
  /** The deploy stage asking (recorded on the deploy, so that the stage finds it again after a crash). */
  stage?: { name: string; attempt: number };
}

const digestRef = /^[^@\s]+@sha256:[0-9a-f]{64}$/;

/**
 * Deploys, one per environment at a time (R21):
 * - `request` checks everything before anything runs (known environment, the repository it
 *   deploys, not locked, an image this repository's build published, by digest, required
 *   stages green), holds the idempotency key (environment + digest), and either queues the
 *   deploy or opens its approval (a build with one checkpoint for the environment's approvers).
 * - A queued deploy replaces (supersedes) the one queued before it: only the newest waits.
 * - `pump` runs the queued deploy of an environment under the environment's mutex, a Redis
 *   lease renewed while it runs. Before telling the target to act it marks the deploy
 *   applied; a runner that dies leaves the lease to lapse, and `watchdogPass` resolves the
 *   deploy by observing the target (never applying again) and frees the environment.
 * Every state change is a `deploy.status` event, written with the record in one step
 * (DeployStore), and an audit entry.
 */
export class DeployManager {
  private readonly owner = `${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly leaseMs: number;
  private readonly pumping = new Map<string, Promise<void>>();
  private readonly running = new Map<string, AbortController>();
  private stopped = false;
  private abandoned = false;

  constructor(private readonly deps: DeployManagerDeps) {
    this.leaseMs = deps.leaseMs ?? 30_000;
  }

  environment(name: string): EnvironmentConfig {
    const env = this.deps.environments[name];
    if (!env) {
      const known = Object.keys(this.deps.environments).sort().join(', ');
      throw new UserError('not_found', `unknown environment "${name}" (known: ${known || 'none'})`);
    }
    return env;
  }

  async request(req: DeployRequest): Promise<{ deploy: Deploy; text: string }> {
    const deny = async (reason: string, code: 'bad_request' | 'not_found' | 'forbidden' | 'conflict' = 'bad_request'): Promise<never> => {
      await this.deps.audit.record({
        action: `deploy.${req.kind}`,
        actorId: req.actor.id,
        source: req.source,
        outcome: 'denied',
        detail: `${req.repo} → ${req.environment}: ${reason}`,
      });
      throw new UserError(code, reason);
    };
    const env = this.deps.environments[req.environment];
    if (!env) {
      const known = Object.keys(this.deps.environments).sort().join(', ');
      return deny(`unknown environment "${req.environment}" (known: ${known || 'none'}); nothing deployed`, 'not_found');
    }
    if (env.repo !== req.repo) return deny(`${req.environment} deploys ${env.repo}, not ${req.repo}; nothing deployed`);
    const lock = await this.deps.store.getLock(req.environment);
    if (lock)
      return deny(
        `${req.environment} is locked by ${lock.by.name} since ${lock.at}: ${lock.reason} — nothing deployed (\`/ci unlock ${req.environment}\` when it may deploy again)`,
        'forbidden',
      );

    const found = req.publication ?? (await this.resolve(req, env).catch((err: unknown) => deny(asCodedError(err).message)));
    const { build, image } = found;
    if (!digestRef.test(image.ref) || image.ref !== `${image.image}@${image.digest}`)
      return deny(`"${image.ref}" is not an image by digest (image@sha256:…); nothing deployed`);
    for (const stage of env.requires) {
      const s = build.stages.find((x) => x.name === stage);
      if (s?.status !== 'success')
        return deny(`${req.environment} requires stage ${stage} green, and build #${build.id} has it ${s?.status ?? 'missing'}; nothing deployed`);
    }
    const current = await this.currentDeploy(req.environment);
    if (current?.ref === image.ref && req.kind !== 'rollback') {
      return {
        deploy: current,
        text: `${req.environment} already runs ${req.repo}@${shortSha(current.sha)} (${shortDigest(current.digest)}), deploy #${current.id}; nothing to do.`,
      };
    }

    const id = await this.deps.store.nextId();
    const holder = await this.deps.store.claimDigest(req.environment, image.digest, id);
    if (holder) {
      const existing = await this.deps.store.get(holder);
      if (existing && !isDeployFinished(existing.state)) {
        return {
          deploy: existing,
          text: `Deploy #${existing.id} of ${shortDigest(image.digest)} to ${req.environment} is already ${existing.state.replace('_', ' ')}; not starting another.`,
        };
      }
      // A key left by a deploy that ended without releasing it (crash): take it over.
      await this.deps.store.releaseDigest(req.environment, image.digest, holder);
      if (await this.deps.store.claimDigest(req.environment, image.digest, id))
        return deny(`another deploy of ${shortDigest(image.digest)} to ${req.environment} just started`, 'conflict');
    }
    const now = new Date().toISOString();
    const pre = req.approvedBy;
    const preApproved =
      !!env.approvers &&
      !!pre &&
      pre.group === env.approvers &&
      new Set(pre.approvals.map((a) => a.actor.id)).size >= this.deps.approvalsRequired(env.approvers) &&
      !pre.approvals.some((a) => a.actor.id === req.actor.id);
    const needsApproval = !!env.approvers && !preApproved;
    const deploy: Deploy = {
      id,
      environment: req.environment,
      repo: req.repo,
      buildId: build.id,
      sha: build.sha,
      image: image.image,
      digest: image.digest,
      ref: image.ref,
      kind: req.kind,
      requestedBy: req.actor,
      source: req.source,
      state: needsApproval ? 'awaiting_approval' : 'queued',
      approvals: preApproved && pre ? pre.approvals : [],
      ...(req.stage ? { stage: req.stage } : {}),
      createdAt: now,
      version: 0,
    };
    const what = `${req.repo}@${shortSha(build.sha)} (build #${build.id}, ${shortDigest(image.digest)})`;
    const queuedText = `Deploy #${id} of ${what} to ${req.environment} is queued.`;
    // Waiting for approval, its event comes with the approval build's number (openApproval).
    await this.deps.store.create(deploy, needsApproval ? undefined : queuedText);
    await this.deps.audit.record({
      action: `deploy.${req.kind}`,
      actorId: req.actor.id,
      source: req.source,
      outcome: 'ok',
      buildId: build.id,
      sha: build.sha,
      detail: `deploy #${id}: ${image.ref} → ${req.environment}`,
    });
    if (needsApproval && env.approvers) {
      const group = env.approvers;
      const approval = await this.openApproval(
        deploy,
        env,
        build,
        req,
        (approvalId) => `Deploy #${id} of ${what} to ${req.environment} waits for approval from ${group} (build #${approvalId}).`,
      );
      return {
        deploy: (await this.deps.store.get(id)) ?? deploy,
        text: `Deploy #${id} of ${what} to ${req.environment} needs ${this.deps.approvalsRequired(env.approvers)} approval(s) from "${env.approvers}" (not ${req.actor.name}): \`/ci approve ${approval.id}\`.`,
      };
    }
    await this.enqueue(deploy);
    return { deploy, text: queuedText };
  }

  /** The build and image a request names. Throws UserError with the reason. */
  private async resolve(req: DeployRequest, env: EnvironmentConfig): Promise<{ build: Build; image: DockerPublication }> {
    const sel = req.selector?.trim();
    const builds = await this.deps.builds.list({ repo: req.repo, limit: 200 });
    if (sel && /^sha256:[0-9a-f]{64}$/.test(sel)) {
      for (const b of builds) {
        const image = pickImage(b, env);
        if (image && image.digest === sel) return { build: b, image };
      }
      throw new UserError('bad_request', `${sel.slice(0, 19)}… is not an image published by a build of ${req.repo}; nothing deployed`);
    }
    if (sel && /[:@]/.test(sel)) {
      throw new UserError(
        'bad_request',
        `"${sel}" looks like an image tag or reference; deploys take a build (#42), a commit, or a digest (sha256:…) that ${req.repo} published — never a tag`,
      );
    }
    let build: Build | undefined;
    if (sel && /^#?\d{1,6}$/.test(sel)) {
      const b = await this.deps.builds.get(sel.replace('#', ''));
      if (!b || b.repo !== req.repo) throw new UserError('bad_request', `build #${sel.replace('#', '')} is not a build of ${req.repo}`);
      build = b;
    } else if (sel) {
      if (!/^[0-9a-f]{7,40}$/.test(sel)) throw new UserError('bad_request', `"${sel}" is neither a build number, a commit sha nor a digest`);
      build = builds.find((b) => b.sha.startsWith(sel) && pickImage(b, env)) ?? builds.find((b) => b.sha.startsWith(sel));
      if (!build) throw new UserError('bad_request', `no build of ${req.repo} at commit ${sel}`);
    } else {
      build = builds.find((b) => b.status === 'success' && pickImage(b, env));
      if (!build) throw new UserError('bad_request', `no successful build of ${req.repo} published an image yet; nothing to deploy`);
    }
    const image = pickImage(build, env);
    if (!image) {
      const several = (build.published ?? []).filter((p) => p.kind === 'docker').length > 1;
      throw new UserError(
        'bad_request',
        several
          ? `build #${build.id} published several images; set environments.${req.environment}.image to choose one`
          : `build #${build.id} of ${req.repo} published no image${env.image ? ` ${env.image}` : ''}: an unpublished commit cannot be deployed`,
      );
    }
    if (build.status !== 'success' && req.kind !== 'rollback')
      throw new UserError('bad_request', `build #${build.id} is ${build.status}; only a successful build deploys`);
    return { build, image };
  }

  private async openApproval(
    deploy: Deploy,
    env: EnvironmentConfig,
    build: Build,
    req: DeployRequest,
    describe: (approvalId: string) => string,
  ): Promise<Build> {
    if (!this.deps.approvalBuilds) throw new UserError('bad_request', 'approvals are not available on this server');
    const current = await this.currentDeploy(deploy.environment);
    const now = current
      ? `it runs ${current.repo}@${shortSha(current.sha)} (${shortDigest(current.digest)}, deploy #${current.id}) now`
      : 'nothing deployed there yet';
    const approval = await this.deps.approvalBuilds.create({
      repo: deploy.repo,
      ref: build.ref,
      sha: deploy.sha,
      actor: req.actor,
      source: req.source,
      ...(req.chat ? { chat: req.chat } : {}),
      plan: {
        specPath: '(deploy)',
        skipped: [],
        stages: [
          {
            name: `deploy-${deploy.environment}`,
            needs: [],
            steps: [],
            resources: [],
            labels: [],
            checkpoint: {
              instructions: `${deploy.kind === 'rollback' ? 'Roll back' : 'Deploy'} ${deploy.repo}@${shortSha(deploy.sha)} (build #${build.id}, image ${shortDigest(deploy.digest)}) to ${deploy.environment}; ${now}. Deploy #${deploy.id}.`,
              checklist: build.stages.map((s) => `${s.name}: ${s.status}`),
              timeoutSec: this.deps.approvalTimeoutSec ?? 24 * 3600,
              approvers: env.approvers!,
              kind: 'approval',
            },
          },
        ],
      },
    });
    await this.deps.store.linkApproval(approval.id, deploy.id);
    await this.deps.store.update(
      deploy.id,
      (d) => ((d.approvalBuildId = approval.id), true),
      () => describe(approval.id),
    );
    return approval;
  }

  /** Called with every finished build: an approval build decides its deploy. */
  async onBuildFinished(build: Build): Promise<void> {
    const id = await this.deps.store.deployForApproval(build.id);
    if (!id) return;
    const stage = build.stages[0];
    const cp = stage?.checkpointState;
    const approved = build.status === 'success' && cp?.decision?.decision === 'pass' && cp.sha === build.sha;
    if (!approved) {
      const why = cp?.decision
        ? `${cp.decision.decision === 'timeout' ? 'the approval timed out' : `rejected by ${cp.decision.actor.name}`}`
        : `its approval build #${build.id} ended ${build.status}`;
      await this.finish(id, 'refused', why, ['awaiting_approval']);
      return;
    }
    const { deploy, changed } = await this.deps.store.update(
      id,
      (d) => {
        if (d.state !== 'awaiting_approval') return false;
        d.state = 'queued';
        d.approvals = (cp.approvals ?? []).map((a) => ({ actor: a.actor, at: a.at }));
        return true;
      },
      (d) => `Deploy #${id} to ${d.environment} approved by ${d.approvals.map((a) => a.actor.name).join(', ')}; queued.`,
    );
    if (!changed) return;
    await this.enqueue(deploy);
  }

  private async enqueue(deploy: Deploy): Promise<void> {
    const older = await this.deps.store.setQueued(deploy.environment, deploy.id);
    if (older) await this.finish(older, 'superseded', `a newer deploy (#${deploy.id}) to ${deploy.environment} was queued`, ['queued']);
    this.kick(deploy.environment);
  }

  /** Starts the environment's runner unless this process runs it already. */
  kick(environment: string): void {
    if (this.stopped || this.pumping.has(environment)) return;
    const p = this.pump(environment)
      .catch((err: unknown) => this.deps.log.warn({ err, environment }, 'Deploy runner failed'))
      .finally(() => this.pumping.delete(environment));
    this.pumping.set(environment, p);
  }

  /** Runs queued deploys of the environment one at a time while this process holds its mutex. */
  async pump(environment: string): Promise<void> {
    while (!this.stopped) {
      const id = await this.deps.store.queued(environment);
      if (!id) return;
      const holder = `${this.owner}:${id}`;
      if (!(await this.deps.store.acquireMutex(environment, holder, this.leaseMs))) return; // someone else runs one; they pump after
      try {
        await this.deps.store.clearQueued(environment, id);
        await this.run(id, holder);
      } finally {
        if (!this.abandoned) await this.deps.store.releaseMutex(environment, holder);
      }
    }
  }

  private async run(id: string, holder: string): Promise<void> {
    const queued = await this.deps.store.get(id);
    if (!queued) return;
    const previous = await this.currentDeploy(queued.environment);
    const lock = await this.deps.store.getLock(queued.environment);
    if (lock) {
      await this.finish(id, 'refused', `${queued.environment} was locked by ${lock.by.name} before it ran: ${lock.reason}`);
      return;
    }
    const { deploy, changed } = await this.deps.store.update(
      id,
      (d) => {
        if (d.state !== 'queued') return false;
        d.state = 'running';
        d.startedAt = new Date().toISOString();
        if (previous) d.previousRef = previous.ref;
        return true;
      },
      (d) => `Deploy #${id}: ${d.environment} is being updated to ${d.repo}@${shortSha(d.sha)} (${shortDigest(d.digest)}).`,
    );
    if (!changed) return;
    await this.deps.store.addRunning(id);
    const ac = new AbortController();
    this.running.set(id, ac);
    const renew = setInterval(
      () => {
        void this.deps.store.renewMutex(deploy.environment, holder, this.leaseMs).then(
          (held) => {
            if (!held) ac.abort();
          },
          () => undefined,
        );
      },
      Math.max(Math.floor(this.leaseMs / 3), 50),
    );
    try {
      await this.reportGithubStart(deploy);
      await this.deps.store.markApplied(id);
      let result;
      try {
        result = await this.deps.target(deploy.environment).apply(deploy, ac.signal);
      } catch (err) {
        result = { outcome: 'failed' as const, reason: asCodedError(err).message };
      }
      // Lost the lease, or stopping: the watchdog resolves it by observing the target.
      if (ac.signal.aborted) return;
      await this.finish(id, result.outcome, result.reason);
    } finally {
      clearInterval(renew);
      this.running.delete(id);
    }
  }

  private async reportGithubStart(deploy: Deploy): Promise<void> {
    if (!this.deps.github) return;
    try {
      const ghId = await this.deps.github.created(deploy);
      if (ghId === null) return;
      const { deploy: d } = await this.deps.store.update(deploy.id, (x) => ((x.githubDeploymentId = ghId), true));
      await this.deps.github.status(d, 'in_progress', `Bosun deploy #${deploy.id}: ${shortDigest(deploy.digest)}`);
    } catch (err) {
      this.deps.log.warn({ err, deployId: deploy.id }, 'GitHub deployment could not be created');
    }
  }

  /** Ends a deploy with an outcome (only from one of `from`, default any unfinished state). */
  async finish(
    id: string,
    outcome: 'succeeded' | 'failed' | 'rolled_back' | 'superseded' | 'refused',
    reason?: string,
    from?: DeployState[],
  ): Promise<boolean> {
    const words: Record<typeof outcome, string> = {
      succeeded: 'now runs',
      failed: 'failed to deploy',
      rolled_back: 'was rolled back from',
      superseded: 'was superseded before deploying',
      refused: 'was refused',
    };
    const { deploy, changed } = await this.deps.store.update(
      id,
      (d) => {
        if (isDeployFinished(d.state) || (from && !from.includes(d.state))) return false;
        d.state = outcome;
        d.finishedAt = new Date().toISOString();
        if (reason) d.reason = reason;
        else delete d.reason;
        return true;
      },
      (d) => `Deploy #${id}: ${d.environment} ${words[outcome]} ${d.repo}@${shortSha(d.sha)} (${shortDigest(d.digest)})${reason ? ` — ${reason}` : ''}.`,
    );
    if (!changed) return false;
    await this.deps.store.removeRunning(id);
    await this.deps.store.releaseDigest(deploy.environment, deploy.digest, id);
    await this.deps.store.clearQueued(deploy.environment, id);
    await this.deps.audit.record({
      action: `deploy.${outcome}`,
      actorId: deploy.requestedBy.id,
      source: deploy.source,
      outcome: outcome === 'succeeded' ? 'ok' : outcome === 'refused' ? 'denied' : 'error',
      buildId: deploy.buildId,
      sha: deploy.sha,
      detail: `deploy #${id} ${deploy.ref} → ${deploy.environment}${reason ? `: ${reason}` : ''}`,
    });
    if (this.deps.github && deploy.githubDeploymentId !== undefined) {
      const state = outcome === 'succeeded' ? 'success' : outcome === 'failed' ? 'failure' : 'error';
      await this.deps.github
        .status(deploy, state, `${outcome}${reason ? `: ${reason}` : ''}`)
        .catch((err: unknown) => this.deps.log.warn({ err, deployId: id }, 'GitHub deployment status failed'));
    }
    return true;
  }

  /**
   * Resolves what dead runners left (R21): a running deploy whose environment mutex lapsed
   * (no runner renews it) is settled by observing its target when it had been applied —
   * never by applying again — or queued again when its runner died before acting. Queued
   * deploys nobody runs get a runner. Returns what it did, for logs and tests.
   */
  async watchdogPass(): Promise<string[]> {
    const actions: string[] = [];
    for (const id of await this.deps.store.runningIds()) {
      const d = await this.deps.store.get(id);
      if (!d || d.state !== 'running') {
        await this.deps.store.removeRunning(id);
        continue;
      }
      if (this.running.has(id) || (await this.deps.store.mutexHolder(d.environment))) continue;
      const holder = `${this.owner}:watchdog:${id}`;
      if (!(await this.deps.store.acquireMutex(d.environment, holder, this.leaseMs))) continue;
      try {
        if (!(await this.deps.store.wasApplied(id))) {
          await this.finish(id, 'failed', 'its runner stopped before the target was told anything; nothing was deployed');
          actions.push(`failed ${id} (not applied)`);
          continue;
        }
        const seen = await this.deps
          .target(d.environment)
          .observe(d)
          .catch((err: unknown) => ({ outcome: 'failed' as const, reason: asCodedError(err).message }));
        if (seen === 'in_progress') {
          actions.push(`waiting ${id}`);
          continue; // our lease lapses; the next pass looks again
        }
        await this.finish(id, seen.outcome, `${seen.reason ? `${seen.reason}; ` : ''}resolved by the watchdog after its runner stopped`);
        actions.push(`resolved ${id} ${seen.outcome}`);
      } finally {
        await this.deps.store.releaseMutex(d.environment, holder);
      }
    }
    for (const environment of Object.keys(this.deps.environments)) {
      if (await this.deps.store.queued(environment)) {
        this.kick(environment);
        actions.push(`kicked ${environment}`);
      }
    }
    return actions;
  }

  /** True when a promotion's deploy of this commit to the environment is in flight or succeeded. */
  async hasPromotedCommit(environment: string, sha: string): Promise<boolean> {
    const hist = await this.deps.store.history({ environment }, 50);
    return hist.some((d) => d.sha === sha && d.source === 'promotion' && (d.state === 'succeeded' || !isDeployFinished(d.state)));
  }

  /** The last deploy that succeeded in the environment (what runs there now, as far as Bosun did it). */
  async currentDeploy(environment: string): Promise<Deploy | null> {
    const hist = await this.deps.store.history({ environment }, 100);
    return hist.find((d) => d.state === 'succeeded') ?? null;
  }

  /** The deploy before the current one whose digest differs, for `rollback`. */
  async previousGood(environment: string): Promise<Deploy | null> {
    const hist = (await this.deps.store.history({ environment }, 200)).filter((d) => d.state === 'succeeded');
    const current = hist[0];
    return hist.find((d) => d.ref !== current?.ref) ?? null;
  }

  async rollback(input: {
    repo: string;
    environment: string;
    actor: Actor;
    source: string;
    chat?: DeployRequest['chat'];
  }): Promise<{ deploy: Deploy; text: string }> {
    this.environment(input.environment);
    const prev = await this.previousGood(input.environment);
    if (!prev) {
      await this.deps.audit.record({
        action: 'deploy.rollback',
        actorId: input.actor.id,
        source: input.source,
        outcome: 'denied',
        detail: `${input.environment}: no previous good deploy`,
      });
      throw new UserError('bad_request', `${input.environment} has no earlier successful deploy to roll back to; nothing deployed`);
    }
    const build = await this.deps.builds.get(prev.buildId);
    const image = build?.published?.find((p): p is DockerPublication => p.kind === 'docker' && p.ref === prev.ref);
    if (!build || !image) throw new UserError('bad_request', `the build that published ${prev.ref} (#${prev.buildId}) is gone; nothing deployed`);
    return this.request({ ...input, kind: 'rollback', publication: { build, image } });
  }

  async lock(environment: string, reason: string, actor: Actor, source: string): Promise<{ lock: EnvironmentLock; already: boolean }> {
    this.environment(environment);
    const lock: EnvironmentLock = { by: actor, reason, at: new Date().toISOString() };
    const existing = await this.deps.store.lock(environment, lock);
    await this.deps.audit.record({
      action: 'deploy.lock',
      actorId: actor.id,
      source,
      outcome: existing ? 'denied' : 'ok',
      detail: `${environment}: ${existing ? `already locked by ${existing.by.name}` : reason}`,
    });
    return existing ? { lock: existing, already: true } : { lock, already: false };
  }

  async unlock(environment: string, actor: Actor, source: string, isApprover: (group: string) => boolean): Promise<EnvironmentLock | null> {
    const env = this.environment(environment);
    const lock = await this.deps.store.getLock(environment);
    if (!lock) return null;
    if (lock.by.id !== actor.id && env.approvers && !isApprover(env.approvers)) {
      await this.deps.audit.record({
        action: 'deploy.unlock',
        actorId: actor.id,
        source,
        outcome: 'denied',
        detail: `${environment} locked by ${lock.by.name}`,
      });
      throw new UserError(
        'forbidden',
        `${environment} was locked by ${lock.by.name} (${lock.reason}); only they or a member of "${env.approvers}" may unlock it`,
      );
    }
    await this.deps.store.unlock(environment);
    await this.deps.audit.record({ action: 'deploy.unlock', actorId: actor.id, source, outcome: 'ok', detail: `${environment} (was: ${lock.reason})` });
    this.kick(environment);
    return lock;
  }

  /** Stops runners in this process (their deploys are resolved by a watchdog later if cut short). */
  async close(): Promise<void> {
    this.stopped = true;
    for (const ac of this.running.values()) ac.abort();
    await Promise.allSettled([...this.pumping.values()]);
  }

  /** For tests: stop renewing and acting without finishing or releasing anything, as a process killed with -9 would. */
  abandonForTest(): void {
    this.stopped = true;
    this.abandoned = true;
    for (const ac of this.running.values()) ac.abort();
  }
}

/** The docker publication of a build that this environment deploys, if there is exactly one. */
export function pickImage(build: Build, env: Pick<EnvironmentConfig, 'image'>): DockerPublication | null {
  const images = (build.published ?? []).filter((p): p is DockerPublication => p.kind === 'docker');
  const chosen = env.image ? images.filter((p) => p.image === env.image) : images;
  return chosen.length === 1 ? chosen[0]! : null;
}

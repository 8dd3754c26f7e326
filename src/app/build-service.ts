import type { Redis } from 'ioredis';
import type { BuildService, CommandContext } from '../../commands/command.js';
import type { Build } from '../domain/build.js';
import { findStage } from '../domain/build.js';
import { UserError } from '../errors.js';
import { serviceStepName } from '../executor/executor.js';
import { createBuild } from '../pipeline/create-build.js';
import { cancelBuild } from '../pipeline/cancel-build.js';
import { retryBuild } from '../pipeline/retry-build.js';
import { decideCheckpoint } from '../pipeline/decide-checkpoint.js';
import type { PipelineDeps } from '../pipeline/pipeline-deps.js';
import { keys as makeKeys } from '../storage/keys.js';
import { PUBLISH_LOG_STEP } from '../publish/publish-stage.js';
import { DEPLOY_LOG_STEP } from '../pipeline/deploy-stage.js';
import { buildUrl } from '../domain/build-url.js';

/** BuildService over the pipeline verbs, with the per-user build rate limit (R27). */
export function makeBuildService(deps: PipelineDeps, redis: Redis, prefix = 'bosun'): BuildService {
  const k = makeKeys(prefix);

  async function checkRate(ctx: CommandContext): Promise<void> {
    const bucket = k.rate(`build:${ctx.actor.id}:${Math.floor(Date.now() / 60_000)}`);
    const count = await redis.incr(bucket);
    if (count === 1) await redis.expire(bucket, 120);
    if (count > deps.config.limits.buildsPerMinute) {
      await deps.audit.record({ action: 'build.create', actorId: ctx.actor.id, source: ctx.source, outcome: 'denied', detail: 'rate limited' });
      throw new UserError('rate_limited', `slow down: at most ${deps.config.limits.buildsPerMinute} builds a minute per person`);
    }
  }

  return {
    async create(input, ctx) {
      await checkRate(ctx);
      const repoConfig = deps.config.repos[input.repo];
      const { build } = await createBuild(deps, {
        repo: input.repo,
        ref: input.ref ?? repoConfig?.defaultBranch ?? 'master',
        trigger: {
          event: 'manual',
          source: ctx.source,
          actor: ctx.actor,
          ...(ctx.eventId ? { deliveryId: `${ctx.source}:${ctx.eventId}` } : {}),
          ...(ctx.chat ? { chat: ctx.chat } : {}),
        },
      });
      if (!build) throw new UserError('conflict', 'this request was already handled');
      return build;
    },
    get: (id) => deps.store.get(id),
    list: (opts) => deps.store.list(opts),
    cancel: (id, ctx) => cancelBuild(deps, id, ctx.actor, ctx.source),
    retry: (id, fromFailed, ctx) => retryBuild(deps, id, { fromFailed, actor: ctx.actor, source: ctx.source }),
    decide: (id, stage, decision, ctx) =>
      decideCheckpoint(deps, {
        buildId: id,
        ...(stage ? { stage } : {}),
        decision,
        actor: ctx.actor,
        source: ctx.source,
        ...(ctx.eventId ? { eventId: ctx.eventId } : {}),
      }),
    async logTail(id, target, lines) {
      const build = await deps.store.get(id);
      if (!build) throw new UserError('unknown_build', `no build #${id}`);
      const pick = pickStep(build, target);
      if (!pick) return null;
      return { ...pick, lines: await deps.logs.tail(id, pick.stage, pick.step, lines) };
    },
    // Read at call time: the server learns its address (the default public URL) after listening.
    buildUrl: (id) => buildUrl(deps.config.http.publicUrl, id),
  };
}

/** The step a log request means: the named one, else the failing one, else the latest that ran. */
export function pickStep(build: Build, target: { stage?: string; step?: string }): { stage: string; step: string } | null {
  const stages = target.stage ? [findStage(build, target.stage)].filter((s) => s !== undefined) : build.stages;
  if (target.stage && stages.length === 0) throw new UserError('not_found', `build #${build.id} has no stage "${target.stage}"`);
  const steps = stages.flatMap((s) => s.steps.map((st) => ({ stage: s.name, step: st.name, status: st.status, ran: st.runs > 0 })));
  // A service's log is the pseudo-step `service:<name>` of its stage.
  const service = target.step && stages.find((s) => (s.services ?? []).some((sv) => serviceStepName(sv.name) === target.step));
  if (service && target.step) return { stage: service.name, step: target.step };
  // What publishing said is the pseudo-step `bosun:publish`; it is the log to show when publishing failed.
  const publishing = target.step === PUBLISH_LOG_STEP ? stages.find((s) => s.publish?.length) : undefined;
  if (publishing) return { stage: publishing.name, step: PUBLISH_LOG_STEP };
  // A deploy stage's progress is the pseudo-step `bosun:deploy`.
  const deploying = target.step === DEPLOY_LOG_STEP ? stages.find((s) => s.deploy) : undefined;
  if (deploying) return { stage: deploying.name, step: DEPLOY_LOG_STEP };
  if (target.step) {
    const found = steps.find((s) => s.step === target.step);
    if (!found) throw new UserError('not_found', `stage ${target.stage ?? '?'} has no step "${target.step}"`);
    return found;
  }
  const failing = steps.find((s) => s.status === 'failed' || s.status === 'failed_infra');
  if (failing) return failing;
  const failedPublish = stages.find((s) => s.publishError);
  if (failedPublish) return { stage: failedPublish.name, step: PUBLISH_LOG_STEP };
  const failedDeploy = stages.find((s) => s.deployError);
  if (failedDeploy) return { stage: failedDeploy.name, step: DEPLOY_LOG_STEP };
  const ran = steps.filter((s) => s.ran);
  return ran[ran.length - 1] ?? null;
}

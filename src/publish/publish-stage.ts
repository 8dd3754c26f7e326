import type { Build } from '../domain/build.js';
import { findStage } from '../domain/build.js';
import type { PlanPublish } from '../domain/plan.js';
import type { Publication } from '../domain/publication.js';
import type { ServerConfig } from '../config.js';
import type { WorkerDeps } from '../pipeline/pipeline-deps.js';
import { StepLogWriter } from '../logs/step-log-writer.js';
import { dockerClient } from '../app/make-executor.js';
import { publishImage, type PublishEngine } from './docker-publish.js';
import { publishDistributions } from './pypi-publish.js';
import { PublishError } from './publish-error.js';

/**
 * The pseudo-step whose log holds what publishing said (like `service:<name>` for services);
 * the colon keeps it apart from every real step name.
 */
export const PUBLISH_LOG_STEP = 'bosun:publish';

export type PublishOutcome = 'success' | 'failed' | 'cancelled';

/** The longest a Python release's uploads (and index reads) may take. */
const PYPI_TIMEOUT_MS = 15 * 60_000;

/** What publishing needs besides the worker's dependencies (tests pass their own engine). */
export interface PublishOptions {
  engine?: PublishEngine;
  /** True once the build was cancelled. */
  cancelled(): boolean;
  /** Registers how to stop what runs now (an image build or upload). */
  onStarted(stop: () => void): void;
}

/**
 * Bosun's act after a stage's steps succeeded: publish every `publish:` target in order, each
 * recorded on the build (`Build.published`) as soon as it is out, so a later failure keeps what
 * was published. The first failure stops the rest and fails the stage with a reason naming the
 * registry or index (`StageRun.publishError`). Untrusted builds (forks, outside authors) never
 * publish. Running it again for the same commit is safe: an image tag already in the registry
 * and files already in the index with the same hashes are recorded as they are.
 */
export async function publishStage(deps: WorkerDeps, buildId: string, stageName: string, workspace: string, opts: PublishOptions): Promise<PublishOutcome> {
  const build = await deps.store.require(buildId);
  const targets = findStage(build, stageName)?.publish ?? [];
  if (targets.length === 0) return 'success';
  const log = deps.log.child({ buildId, stage: stageName, publish: true });
  // A retry from the failed step publishes again: the earlier attempt's reason goes.
  if (findStage(build, stageName)?.publishError) {
    await deps.store.update(buildId, (b) => {
      const s = findStage(b, stageName);
      if (!s?.publishError) return null;
      delete s.publishError;
      return [];
    });
  }
  await deps.logs.reset(buildId, stageName, PUBLISH_LOG_STEP);
  const writer = new StepLogWriter(
    {
      append: async (firstLine, batch) => {
        await deps.logs.append(buildId, stageName, PUBLISH_LOG_STEP, firstLine, batch);
        await deps.bus.publish({ type: 'log.chunk', buildId, stage: stageName, step: PUBLISH_LOG_STEP, lines: batch, firstLine });
      },
    },
    deps.secrets,
  );
  let outcome: PublishOutcome = 'success';
  try {
    if (build.trigger.untrusted) {
      throw new PublishError('publish refused: this build is untrusted (a fork or an outside author), and Bosun never publishes from one');
    }
    for (const target of targets) {
      if (opts.cancelled()) {
        outcome = 'cancelled';
        break;
      }
      const controller = new AbortController();
      opts.onStarted(() => controller.abort());
      const publication = await publishOne(deps, build, stageName, workspace, target, opts, controller.signal, (line) => writer.note(line));
      await record(deps, buildId, publication);
      await deps.audit.record({
        action: 'publish',
        actorId: build.trigger.actor.id,
        source: build.trigger.source,
        outcome: 'ok',
        buildId,
        sha: build.sha,
        stage: stageName,
        detail:
          publication.kind === 'docker'
            ? `${publication.ref}`
            : `${publication.repository} ${publication.package} ${publication.version}${publication.alreadyPublished ? ' (already published)' : ''}`,
      });
    }
  } catch (err) {
    if (opts.cancelled()) {
      outcome = 'cancelled';
    } else {
      const message = err instanceof PublishError ? err.message : `publish failed: ${err instanceof Error ? err.message : String(err)}`;
      if (!(err instanceof PublishError)) log.error({ err }, 'Publishing failed unexpectedly');
      writer.note(`bosun: ${message}`);
      await deps.store.update(buildId, (b) => {
        const s = findStage(b, stageName);
        if (!s) return null;
        s.publishError = message;
        return [];
      });
      await deps.audit.record({
        action: 'publish',
        actorId: build.trigger.actor.id,
        source: build.trigger.source,
        outcome: build.trigger.untrusted ? 'denied' : 'error',
        buildId,
        sha: build.sha,
        stage: stageName,
        detail: message,
      });
      outcome = 'failed';
    }
  } finally {
    await writer.close().catch((err: unknown) => log.warn({ err }, 'Could not write the publish log'));
    await deps.logs.finish(buildId, stageName, PUBLISH_LOG_STEP).catch(() => undefined);
  }
  return outcome;
}

async function publishOne(
  deps: WorkerDeps,
  build: Build,
  stage: string,
  workspace: string,
  target: PlanPublish,
  opts: PublishOptions,
  signal: AbortSignal,
  onLine: (line: string) => void,
): Promise<Publication> {
  const config = deps.config;
  if (target.kind === 'docker') {
    const registry = config.publish.docker.registries.find((r) => target.image.startsWith(`${r.host}/`));
    if (!registry) throw new PublishError(`registry ${target.image.split('/')[0]} of ${target.image} is not in server config (publish.docker.registries)`);
    if (registry.repos && !registry.repos.includes(build.repo))
      throw new PublishError(`repository ${build.repo} may not publish to registry ${registry.host} (publish.docker.registries: repos)`);
    const timeout = AbortSignal.timeout(config.publish.docker.timeoutSec * 1000);
    const result = await publishImage({
      engine: opts.engine ?? dockerClient(config),
      workspace,
      image: target.image,
      context: target.context,
      dockerfile: target.dockerfile,
      sha: build.sha,
      registry: { host: registry.host, username: registry.username, password: secret(config, registry.passwordSecret) },
      limits: { cpus: config.limits.cpus, memoryMb: config.limits.memoryMb },
      signal: AbortSignal.any([signal, timeout]),
      onLine,
    }).catch((err: unknown) => {
      if (timeout.aborted)
        throw new PublishError(`publishing ${target.image} took longer than ${config.publish.docker.timeoutSec}s (publish.docker.timeoutSec)`);
      throw err;
    });
    return {
      kind: 'docker',
      stage,
      image: target.image,
      tag: result.tag,
      digest: result.digest,
      ref: `${target.image}@${result.digest}`,
      publishedAt: new Date().toISOString(),
    };
  }
  const repo = config.publish.pypi.repositories[target.repository];
  if (!repo || !Object.hasOwn(config.publish.pypi.repositories, target.repository))
    throw new PublishError(`Python repository ${target.repository} is not in server config (publish.pypi.repositories)`);
  if (repo.repos && !repo.repos.includes(build.repo))
    throw new PublishError(
      `repository ${build.repo} may not publish to Python repository ${target.repository} (publish.pypi.repositories.${target.repository}.repos)`,
    );
  const result = await publishDistributions({
    workspace,
    packageDir: target.packageDir,
    repository: target.repository,
    uploadUrl: repo.uploadUrl,
    indexUrl: repo.indexUrl,
    username: repo.username,
    password: secret(config, repo.passwordSecret),
    signal: AbortSignal.any([signal, AbortSignal.timeout(PYPI_TIMEOUT_MS)]),
    onLine,
  }).catch((err: unknown) => {
    if (!signal.aborted && err instanceof PublishError && /TimeoutError|aborted/i.test(err.message)) {
      throw new PublishError(`index ${target.repository} did not answer within ${PYPI_TIMEOUT_MS / 60_000} minutes`, { cause: err });
    }
    throw err;
  });
  return {
    kind: 'pypi',
    stage,
    repository: target.repository,
    package: result.name,
    version: result.version,
    files: result.files,
    ...(result.alreadyPublished ? { alreadyPublished: true } : {}),
    publishedAt: new Date().toISOString(),
  };
}

/** Adds the publication to the build, replacing an earlier record of the same deliverable (a re-run). */
async function record(deps: WorkerDeps, buildId: string, publication: Publication): Promise<void> {
  await deps.store.update(buildId, (b) => {
    const same = (p: Publication): boolean =>
      p.stage === publication.stage &&
      p.kind === publication.kind &&
      (p.kind === 'docker'
        ? p.image === (publication as typeof p).image
        : p.repository === (publication as typeof p).repository && p.package === (publication as typeof p).package);
    const published = (b.published ?? []).filter((p) => !same(p));
    published.push(publication);
    b.published = published;
    return [];
  });
}

function secret(config: ServerConfig, name: string): string {
  const value = config.secrets[name];
  if (value === undefined) throw new PublishError(`secret ${name} has no value`);
  return value;
}

/**
 * For a stage whose worker died after its steps passed: true when every `publish:` target was
 * recorded. When not, the stage must not pass as if it had published: `lostWhilePublishing`
 * records why, and the stage ends `failed_infra` (a retry publishes again, idempotently).
 */
export function publishedAll(build: Build, stageName: string): boolean {
  const wanted = findStage(build, stageName)?.publish?.length ?? 0;
  return (build.published ?? []).filter((p) => p.stage === stageName).length >= wanted;
}

export async function lostWhilePublishing(deps: Pick<WorkerDeps, 'store'>, buildId: string, stageName: string): Promise<void> {
  await deps.store.update(buildId, (b) => {
    const s = findStage(b, stageName);
    if (!s) return null;
    s.publishError = 'the worker died while publishing; retry the build (publishing the same commit again is safe)';
    return [];
  });
}

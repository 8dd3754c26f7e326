import type { Redis } from 'ioredis';
import type { Build, StageRun } from '../domain/build.js';
import type { StoredEvent } from '../domain/build-event.js';
import type { RunStatus } from '../domain/status.js';
import type { EventHandler } from '../events/event-bus.js';
import type { Logger } from '../logger.js';
import type { LogLine } from '../logs/log-store.js';
import { repoId, type CommitState, type GithubClient } from './github-client.js';
import { phaseOf, StatusRanks, type Rank } from './status-ranks.js';
import { downstreamContext } from './downstream.js';
import { summarizeSpecErrors } from '../spec/spec-error.js';
import { stepEnding } from '../domain/step-ending.js';
import {
  annotationBatches,
  annotationsFromOutput,
  annotationsFromTests,
  mergeAnnotations,
  rerunFailedButton,
  stageSummary,
  type Annotation,
} from './check-run-output.js';

/** Lines of a failed step's log scanned for `file:line` references. */
const outputLinesScanned = 500;
/** Lines of a failed step's log shown in its check run summary. */
const summaryTailLines = 20;

/** The GitHub calls the reporter makes. */
export type StatusClient = Pick<GithubClient, 'createCommitStatus' | 'createCheckRun' | 'updateCheckRun'>;

export interface ReporterDeps {
  client: StatusClient;
  redis: Redis;
  prefix: string;
  log: Logger;
  getBuild(id: string): Promise<Build | null>;
  tail(buildId: string, stage: string, step: string, lines: number): Promise<LogLine[]>;
  /** Only repositories GitHub knows (allowlisted full names). */
  isGithubRepo(repo: string): boolean;
  buildUrl(id: string): string | undefined;
  checkRuns: boolean;
}

function stageContext(stage: string): string {
  return `bosun/${stage}`;
}

/**
 * Reporter on the event stream: a commit status (and, with an App token, a check run) per
 * stage on the build's commit, linking to the build page; a downstream build also reports
 * `downstream/<repo>` on the upstream commit. It reads the build's current state on each
 * event, so shuffled or replayed events converge, and writes only when the rank moves
 * forward (R24). Failures are logged by the bus and never touch the build.
 */
export function makeStatusReporter(deps: ReporterDeps): EventHandler {
  const ranks = new StatusRanks(deps.redis, deps.prefix);

  async function post(
    repo: string,
    sha: string,
    context: string,
    rank: Rank,
    s: { state: CommitState; description: string; targetUrl?: string },
  ): Promise<boolean> {
    if (!(await ranks.isNewer(repo, sha, context, rank))) return false;
    await deps.client.createCommitStatus(repoId(repo), sha, { ...s, context });
    await ranks.record(repo, sha, context, rank);
    return true;
  }

  async function reportStage(build: Build, stage: StageRun, rank: Rank, url: string | undefined): Promise<void> {
    const posted = await post(build.repo, build.sha, stageContext(stage.name), rank, {
      state: stateOf(stage.status),
      description: describe(stage, build.published),
      ...(url ? { targetUrl: url } : {}),
    });
    if (posted && deps.checkRuns) await reportCheckRun(build, stage, url);
  }

  async function reportCheckRun(build: Build, stage: StageRun, url: string | undefined): Promise<void> {
    const key = `${deps.prefix}:github:check:${build.id}:${build.attempt}:${stage.name}`;
    let id = Number(await deps.redis.get(key));
    if (!id) {
      id = await deps.client.createCheckRun(repoId(build.repo), {
        name: stageContext(stage.name),
        headSha: build.sha,
        externalId: `${build.id}/${stage.name}`,
        ...(url ? { detailsUrl: url } : {}),
      });
      await deps.redis.set(key, String(id), 'EX', 30 * 24 * 3600);
    }
    const conclusion = conclusionOf(stage.status);
    if (!conclusion) {
      await deps.client.updateCheckRun(repoId(build.repo), id, { title: describe(stage), summary: describe(stage) });
      return;
    }
    const failed = stage.steps.filter((s) => s.status === 'failed' || s.status === 'failed_infra');
    const fromOutput: Annotation[][] = [];
    let tail: string[] = [];
    for (const step of failed) {
      const lines = (await deps.tail(build.id, stage.name, step.name, outputLinesScanned)).map((l) => l.text);
      if (step === failed[0]) tail = lines.slice(-summaryTailLines);
      const workdir = step.plan.workdir.replace(/^\.\/?/, '').replace(/\/$/, '');
      fromOutput.push(annotationsFromOutput(lines).map((a) => (workdir ? { ...a, path: `${workdir}/${a.path}` } : a)));
    }
    const annotations = mergeAnnotations(annotationsFromTests(stage.tests), ...fromOutput);
    const summary = stageSummary(stage, failed[0], tail, describe(stage));
    const batches = annotationBatches(annotations);
    const actions = conclusion === 'failure' ? [rerunFailedButton] : [];
    const output = { title: describe(stage), summary };
    await deps.client.updateCheckRun(repoId(build.repo), id, { conclusion, ...output, ...(batches[0] ? { annotations: batches[0] } : {}), actions });
    // Annotations beyond the first 50 go in further updates (GitHub appends them).
    for (const batch of batches.slice(1)) await deps.client.updateCheckRun(repoId(build.repo), id, { ...output, annotations: batch });
  }

  /** A build that failed before its stages (an invalid spec): one `bosun` check run listing every problem. */
  async function reportBuildError(build: Build, error: NonNullable<Build['error']>, url: string | undefined): Promise<void> {
    const id = await deps.client.createCheckRun(repoId(build.repo), {
      name: 'bosun',
      headSha: build.sha,
      externalId: `${build.id}/${build.attempt}`,
      ...(url ? { detailsUrl: url } : {}),
    });
    const lines = error.details ?? [error.message];
    const title = lines.length > 1 ? `${lines.length} problems in the build spec` : summarizeSpecErrors(lines, 100);
    const summary = `\`\`\`\n${lines.join('\n').replaceAll('```', "'''")}\n\`\`\``;
    await deps.client.updateCheckRun(repoId(build.repo), id, { conclusion: 'failure', title, summary });
  }

  return {
    name: 'github-status',
    async handle(event: StoredEvent) {
      if (event.type !== 'build.created' && event.type !== 'build.status' && event.type !== 'stage.status') return;
      const build = await deps.getBuild(event.buildId);
      if (!build || !deps.isGithubRepo(build.repo)) return;
      const url = deps.buildUrl(build.id);
      const buildNum = Number(build.id) || 0;
      for (const stage of build.stages) {
        await reportStage(build, stage, { build: buildNum, attempt: build.attempt, phase: phaseOf(stage.status) }, url);
      }
      if (build.stages.length === 0 && build.error) {
        // A status holds 140 characters: the count and the first problem; the check run has them all.
        const error = build.error;
        const description = error.details ? summarizeSpecErrors(error.details) : summarizeSpecErrors([error.message]);
        const posted = await post(
          build.repo,
          build.sha,
          'bosun',
          { build: buildNum, attempt: build.attempt, phase: 4 },
          { state: 'failure', description, ...(url ? { targetUrl: url } : {}) },
        );
        if (posted && deps.checkRuns) await reportBuildError(build, error, url);
      }
      const up = build.trigger.upstream;
      if (up && deps.isGithubRepo(up.repo)) {
        await post(
          up.repo,
          up.sha,
          downstreamContext(build.repo),
          { build: buildNum, attempt: build.attempt, phase: phaseOf(build.status) },
          {
            state: stateOf(build.status),
            description: `${build.repo} #${build.id}: ${build.status}`,
            ...(url ? { targetUrl: url } : {}),
          },
        );
      }
    },
  };
}

function stateOf(status: RunStatus): CommitState {
  if (status === 'success') return 'success';
  if (status === 'failed' || status === 'skipped') return 'failure';
  if (status === 'failed_infra' || status === 'cancelled') return 'error';
  return 'pending';
}

function conclusionOf(status: RunStatus): 'success' | 'failure' | 'cancelled' | 'neutral' | undefined {
  if (status === 'success') return 'success';
  if (status === 'failed' || status === 'failed_infra') return 'failure';
  if (status === 'cancelled') return 'cancelled';
  if (status === 'skipped') return 'neutral';
  return undefined;
}

/**
 * GitHub's status description: at most 140 characters. A failed stage names its step and why
 * (or why publishing failed); a stage that published says what, an image by its digest.
 */
function describe(stage: StageRun, published?: Build['published']): string {
  if (stage.status === 'waiting') return `${stage.name}: waiting for approval`;
  if (stage.status === 'skipped') return `${stage.name}: skipped (an earlier stage did not pass)`;
  const failed = stage.status === 'failed' || stage.status === 'failed_infra' ? stage.steps.find((s) => s.status === stage.status) : undefined;
  const ending = failed ? stepEnding(failed) : '';
  const mine = stage.status === 'success' ? (published ?? []).filter((p) => p.stage === stage.name) : [];
  const text = failed
    ? `${stage.name}: ${stage.status} — step ${failed.name}${ending ? `: ${ending}` : ''}`
    : stage.status === 'failed' && stage.publishError
      ? `${stage.name}: failed — ${stage.publishError}`
      : (stage.status === 'failed' || stage.status === 'failed_infra') && stage.deployError
        ? `${stage.name}: ${stage.status} — ${stage.deployError}`
        : stage.status === 'success' && stage.deploy
          ? `${stage.name}: success — deployed to ${stage.deploy}${stage.deployId ? ` (deploy #${stage.deployId})` : ''}`
          : mine.length
            ? `${stage.name}: ${stage.status} — published ${mine.map((p) => (p.kind === 'docker' ? p.digest : `${p.package} ${p.version}`)).join(', ')}`
            : `${stage.name}: ${stage.status}`;
  return text.length > 140 ? `${text.slice(0, 139)}…` : text;
}

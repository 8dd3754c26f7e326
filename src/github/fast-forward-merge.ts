import type { Actor, Build } from '../domain/build.js';
import { shortSha } from '../domain/build.js';
import { UserError } from '../errors.js';
import type { GithubConfig } from './github-config.js';
import { repoId, type GithubClient } from './github-client.js';

export type MergeClient = Pick<GithubClient, 'getPull' | 'compare' | 'listReviews' | 'getRef' | 'fastForwardRef'>;

export interface MergeDeps {
  client: MergeClient;
  github: GithubConfig;
  defaultBranch(repo: string): string | undefined;
  /** Recent builds of a repository, newest first. */
  listBuilds(repo: string): Promise<Build[]>;
  audit(entry: { actorId: string; outcome: 'ok' | 'denied'; detail: string; sha?: string }): Promise<void>;
}

/**
 * `/ci merge owner/repo#N`: fast-forwards the default branch to the pull request's head, and
 * only when (1) the branch is an ancestor of the head, (2) the head's required stages are
 * green in Bosun's own records, and (3) the review policy is met. Otherwise it says which
 * rule failed. The ref update never forces; a branch that moved meanwhile is refused by
 * GitHub (422) and reported the same way.
 */
export async function fastForwardMerge(deps: MergeDeps, target: { repo: string; number: number }, actor: Actor): Promise<string> {
  const base = deps.defaultBranch(target.repo);
  if (!base) throw new UserError('unknown_repo', `repository "${target.repo}" is not configured in Bosun`);
  const r = repoId(target.repo);
  const pull = await deps.client.getPull(r, target.number);
  const deny = async (why: string): Promise<string> => {
    await deps.audit({ actorId: actor.id, outcome: 'denied', detail: `merge ${target.repo}#${target.number}: ${why}`, sha: pull.headSha });
    return `Cannot merge ${target.repo}#${target.number}: ${why}`;
  };
  if (pull.state !== 'open') return deny(`the pull request is ${pull.state}`);
  if (pull.baseRef !== base) return deny(`it targets ${pull.baseRef}, not ${base}`);

  const baseSha = await deps.client.getRef(r, `heads/${base}`);
  if (!baseSha) return deny(`${base} does not exist`);
  const relation = await deps.client.compare(r, baseSha, pull.headSha);
  if (relation !== 'ahead' && relation !== 'identical') return deny(`not fast-forwardable: rebase on ${base}@${shortSha(baseSha)}`);

  const checks = whyChecksNotGreen(deps.github.requiredStages, await deps.listBuilds(target.repo), pull.headSha);
  if (checks) return deny(checks);

  const missing = missingApprovals(await deps.client.listReviews(r, target.number), pull.authorId, deps.github.requiredApprovals, pull.headSha);
  if (missing.changesRequestedBy) return deny(`changes requested by ${missing.changesRequestedBy}`);
  if (missing.count > 0) {
    const stale = missing.stale ? ` (${missing.stale} approval${missing.stale === 1 ? ' is' : 's are'} for an older commit)` : '';
    return deny(`needs ${missing.count} more approving review${missing.count === 1 ? '' : 's'} on ${shortSha(pull.headSha)}${stale}`);
  }

  if (relation !== 'identical' && !(await deps.client.fastForwardRef(r, `heads/${base}`, pull.headSha))) {
    const now = await deps.client.getRef(r, `heads/${base}`);
    return deny(`not fast-forwardable: rebase on ${base}@${shortSha(now ?? baseSha)}`);
  }
  await deps.audit({ actorId: actor.id, outcome: 'ok', detail: `merge ${target.repo}#${target.number}: ${base} → ${pull.headSha}`, sha: pull.headSha });
  return `Fast-forwarded ${target.repo} ${base} to ${shortSha(pull.headSha)} (#${target.number}).`;
}

/** Why the required stages are not all green on `sha`, or null when they are. */
function whyChecksNotGreen(required: readonly string[], builds: readonly Build[], sha: string): string | null {
  const onSha = builds.filter((b) => b.sha === sha);
  for (const name of required) {
    const stage = onSha.map((b) => b.stages.find((s) => s.name === name)).find((s) => s !== undefined);
    if (!stage) return `check \`${name}\` has not run on ${shortSha(sha)}`;
    if (stage.status === 'success') continue;
    if (stage.status === 'failed' || stage.status === 'failed_infra' || stage.status === 'cancelled' || stage.status === 'skipped')
      return `check \`${name}\` failed`;
    return `check \`${name}\` is still ${stage.status}`;
  }
  return null;
}

/**
 * Approvals still needed: each reviewer's latest review counts once; the author's never; an
 * approval counts only on the exact head commit (`headSha`), so a push after it needs a new
 * one. A request for changes blocks whatever commit it was made on, until that reviewer
 * approves.
 */
export function missingApprovals(
  reviews: readonly { userId: number; login: string; state: string; commitId?: string | null }[],
  authorId: number,
  required: number,
  headSha?: string,
): { count: number; changesRequestedBy?: string; stale?: number } {
  const latest = new Map<number, { login: string; state: string; commitId?: string | null }>();
  for (const r of reviews) {
    if (r.userId === authorId || r.state === 'COMMENTED' || r.state === 'PENDING' || r.state === 'DISMISSED') continue;
    latest.set(r.userId, r);
  }
  const blocking = [...latest.values()].find((r) => r.state === 'CHANGES_REQUESTED');
  const approvals = [...latest.values()].filter((r) => r.state === 'APPROVED');
  const current = approvals.filter((r) => headSha === undefined || r.commitId === headSha).length;
  const stale = approvals.length - current;
  return { count: Math.max(required - current, 0), ...(blocking ? { changesRequestedBy: blocking.login } : {}), ...(stale > 0 ? { stale } : {}) };
}

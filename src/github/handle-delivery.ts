import type { BuildService, CommandContext, GithubCommands } from '../../commands/command.js';
import { dispatch } from '../../commands/dispatch.js';
import { commandServices } from '../app/command-services.js';
import type { Core } from '../app/open-core.js';
import { createBuild } from '../pipeline/create-build.js';
import type { GithubConfig } from './github-config.js';
import { repoId, type GithubClient } from './github-client.js';
import { isTrustedUser, type OkToTestStore } from './trust.js';
import type { Delivery } from './webhook-route.js';
import type { CheckRunPayload, CheckSuitePayload, InstallationPayload, IssueCommentPayload, PullRequestPayload, PushPayload } from './webhook-payloads.js';
import type { Logger } from '../logger.js';
import { rerunFailedAction } from './check-run-output.js';
import { startDownstream } from './downstream.js';
import { keys as makeKeys } from '../storage/keys.js';
import { createHash } from 'node:crypto';
import { validateRefName } from '../domain/ref-name.js';
import { UserError } from '../errors.js';
import { shortSha, type Actor } from '../domain/build.js';

export interface DeliveryDeps {
  core: Core;
  builds: BuildService;
  github: GithubConfig;
  client: Pick<GithubClient, 'createCommitStatus' | 'createComment'>;
  okToTest: OkToTestStore;
  commands: GithubCommands;
  /** With a GitHub App: forget the cached installation of an owner whose installation changed. */
  installations?: { forgetInstallation(owner: string): void };
}

export const okToTestContext = 'bosun/ok-to-test';

/** Turns one verified delivery into pipeline work. Runs from the inbox, never in the request. */
export async function handleDelivery(deps: DeliveryDeps, d: Delivery): Promise<void> {
  const log = deps.core.log.child({ deliveryId: d.id, event: d.event });
  if (d.event === 'installation' || d.event === 'installation_repositories') {
    onInstallation(deps, d.payload as InstallationPayload, log);
    return;
  }
  const repo = (d.payload as { repository: { full_name: string } }).repository.full_name;
  if (!deps.core.config.repos[repo]) {
    log.info({ repo }, 'Webhook for a repository that is not allowlisted; ignored');
    return;
  }
  if (d.event === 'push') return onPush(deps, d.id, d.payload as PushPayload);
  if (d.event === 'pull_request') return onPullRequest(deps, d.id, d.payload as PullRequestPayload);
  if (d.event === 'issue_comment') return onComment(deps, d.id, d.payload as IssueCommentPayload);
  if (d.event === 'check_suite') return onCheckSuite(deps, d.id, d.payload as CheckSuitePayload);
  return onCheckRun(deps, d.id, d.payload as CheckRunPayload);
}

/** "Re-run all checks" on a commit: its newest build runs again as a new build. */
async function onCheckSuite(deps: DeliveryDeps, id: string, p: CheckSuitePayload): Promise<void> {
  const recent = await deps.core.store.list({ repo: p.repository.full_name, limit: 200 });
  const build = recent.find((b) => b.sha === p.check_suite.head_sha);
  if (!build) return;
  await deps.builds.retry(build.id, false, {
    actor: { id: `github:${p.sender.id}`, name: p.sender.login },
    source: 'github',
    eventId: id,
    builds: deps.builds,
  });
}

/**
 * Second dedupe key beside the delivery id: the same change reaching us under another GUID
 * (repo and App subscriptions both delivering, anchors item 13) starts no second build.
 */
async function onFirstSighting(deps: DeliveryDeps, key: string, work: () => Promise<void>): Promise<void> {
  const full = `github:seen:${key}`;
  if (!(await deps.core.store.claimOnce(full))) return;
  try {
    await work();
  } catch (err) {
    // Let the inbox's retry (or GitHub's redelivery) try again.
    await deps.core.redis.del(makeKeys(deps.core.prefix).dedupe(full));
    throw err;
  }
}

async function onPush(deps: DeliveryDeps, id: string, p: PushPayload): Promise<void> {
  if (p.deleted || !p.ref.startsWith('refs/heads/') || /^0+$/.test(p.after)) return;
  const branch = p.ref.slice('refs/heads/'.length);
  const repo = p.repository.full_name;
  const refused = refusalOf(branch);
  if (refused) {
    await reportRefusal(deps, { repo, sha: p.after, reason: refused, actor: { id: `github:${p.sender.id}`, name: p.sender.login }, what: 'a push' });
    return;
  }
  await onFirstSighting(deps, `push:${repo}:${branch}:${p.after}`, async () => {
    await createBuild(deps.core.deps, {
      repo,
      ref: branch,
      sha: p.after,
      trigger: { event: 'push', source: 'github', actor: { id: `github:${p.sender.id}`, name: p.sender.login }, deliveryId: `github:${id}` },
    });
  });
  const defaultBranch = deps.core.config.repos[repo]?.defaultBranch ?? 'master';
  if (branch === defaultBranch) await startDownstream(deps.core, deps.github, { repo, sha: p.after, deliveryId: id });
}

async function onPullRequest(deps: DeliveryDeps, id: string, p: PullRequestPayload): Promise<void> {
  const repo = p.repository.full_name;
  const pr = p.pull_request;
  const fork = pr.head.repo?.full_name !== pr.base.repo.full_name;
  const trusted = !fork && isTrustedUser(deps.github, pr.user.id, pr.author_association);
  if (!trusted && !(await deps.okToTest.isApproved(repo, p.number, pr.head.sha))) {
    await deps.client.createCommitStatus(repoId(repo), pr.head.sha, {
      state: 'pending',
      context: okToTestContext,
      description: 'needs /ci ok-to-test from a trusted user',
    });
    return;
  }
  const refused = fork ? undefined : refusalOf(pr.head.ref);
  if (refused) {
    await reportRefusal(deps, {
      repo,
      sha: pr.head.sha,
      reason: refused,
      actor: { id: `github:${pr.user.id}`, name: pr.user.login },
      what: `pull request #${p.number}`,
    });
    return;
  }
  await onFirstSighting(deps, `pr:${repo}#${p.number}:${pr.head.sha}`, () =>
    startPullRequestBuild(deps, {
      repo,
      number: p.number,
      headRef: fork ? `pull/${p.number}/head` : pr.head.ref,
      headBranch: pr.head.ref,
      sha: pr.head.sha,
      untrusted: !trusted,
      baseRef: pr.base.ref,
      actor: { id: `github:${pr.user.id}`, name: pr.user.login },
      deliveryId: `github:${id}`,
    }),
  );
}

export async function startPullRequestBuild(
  deps: Pick<DeliveryDeps, 'core'>,
  b: {
    repo: string;
    number: number;
    headRef: string;
    headBranch?: string;
    sha: string;
    untrusted: boolean;
    baseRef?: string;
    actor: { id: string; name: string };
    deliveryId?: string;
  },
): Promise<void> {
  await createBuild(deps.core.deps, {
    repo: b.repo,
    ref: b.headRef,
    sha: b.sha,
    trigger: {
      event: 'pull_request',
      source: 'github',
      actor: b.actor,
      pullRequest: b.number,
      ...(b.headBranch && b.headBranch !== b.headRef && refusalOf(b.headBranch) === undefined ? { headBranch: b.headBranch } : {}),
      ...(b.untrusted ? { untrusted: true } : {}),
      ...(b.baseRef ? { baseRef: b.baseRef } : {}),
      ...(b.deliveryId ? { deliveryId: b.deliveryId } : {}),
    },
  });
}

/** Why Bosun will not build this branch name (R11), or undefined when it will. */
function refusalOf(branch: string): string | undefined {
  try {
    validateRefName(branch);
    return undefined;
  } catch (err) {
    if (err instanceof UserError) return err.message;
    throw err;
  }
}

/** GitHub's limit on a commit status description. */
const maxDescription = 140;

/**
 * A change Bosun will not build must not vanish into a log line: the commit gets a failed
 * `bosun` status saying why, and the chat front ends hear of it (`push.refused`, posted where
 * builds of other sources go). Once per repository, commit and reason, however often it comes.
 */
async function reportRefusal(deps: DeliveryDeps, r: { repo: string; sha: string; reason: string; actor: Actor; what: string }): Promise<void> {
  const digest = createHash('sha256').update(r.reason).digest('hex').slice(0, 16);
  await onFirstSighting(deps, `refused:${r.repo}:${r.sha}:${digest}`, async () => {
    const description = `Bosun did not build this: ${r.reason}`;
    await deps.client.createCommitStatus(repoId(r.repo), r.sha, {
      state: 'failure',
      context: refusedContext,
      description: description.length > maxDescription ? `${description.slice(0, maxDescription - 1)}…` : description,
    });
    const text = `Bosun did not build ${r.what} to ${r.repo} (${shortSha(r.sha)}) by ${r.actor.name}: ${r.reason}`;
    await deps.core.bus.publish({ type: 'push.refused', repo: r.repo, sha: r.sha, reason: r.reason, actor: r.actor, text });
    deps.core.log.warn({ repo: r.repo, sha: r.sha, reason: r.reason }, 'Refused a change from GitHub; told the commit and chat');
  });
}

/** The commit status context of a refusal (a build's statuses are per stage, `bosun/<stage>`). */
const refusedContext = 'bosun';

const commandLine = /^\/ci[ \t]+(.+)$/m;

async function onComment(deps: DeliveryDeps, id: string, p: IssueCommentPayload): Promise<void> {
  if (!p.issue.pull_request) return;
  const m = commandLine.exec(p.comment.body);
  if (!m?.[1]) return;
  const repo = p.repository.full_name;
  const user = p.comment.user;
  const association = p.comment.author_association;
  const ctx: CommandContext = {
    actor: { id: `github:${user.id}`, name: user.login },
    source: 'github',
    eventId: id,
    builds: deps.builds,
    ...commandServices(deps.core),
    pullRequest: { repo, number: p.issue.number },
    github: {
      ...deps.commands,
      okToTest: (pr, c) =>
        isTrustedUser(deps.github, user.id, association)
          ? deps.commands.okToTest(pr, c)
          : Promise.resolve(`${user.login} is not trusted to approve tests here (needs OWNER, MEMBER or COLLABORATOR).`),
    },
  };
  const reply = await dispatch(m[1].trim(), ctx);
  const code = reply.code?.length ? `\n\n\`\`\`\n${reply.code.join('\n').replaceAll('```', "'''")}\n\`\`\`` : '';
  await deps.client.createComment(repoId(repo), p.issue.number, `@${user.login} ${reply.text}${code}`);
}

/**
 * "Re-run" on a check run (`rerequested`) runs the build of that commit again; the "Re-run
 * failed" button (`requested_action`, identifier `rerun-failed`) runs `retry --failed` on the
 * build the check run belongs to (its `external_id` is `<build id>/<stage>`).
 */
async function onCheckRun(deps: DeliveryDeps, id: string, p: CheckRunPayload): Promise<void> {
  const repo = p.repository.full_name;
  if (p.action === 'requested_action' && p.requested_action?.identifier !== rerunFailedAction) return;
  const recent = await deps.core.store.list({ repo, limit: 200 });
  const buildId = p.check_run.external_id?.split('/')[0];
  const build = recent.find((b) => b.id === buildId && b.sha === p.check_run.head_sha) ?? recent.find((b) => b.sha === p.check_run.head_sha);
  if (!build) return;
  const fromFailed = p.action === 'requested_action';
  await deps.builds.retry(build.id, fromFailed, {
    actor: { id: `github:${p.sender.id}`, name: p.sender.login },
    source: 'github',
    eventId: id,
    builds: deps.builds,
  });
}

/**
 * The App was installed on (or removed from) repositories. Bosun builds only repositories in
 * its server config: the others are logged and ignored; for configured ones the cached
 * installation of their owner is dropped, so the next call looks it up again.
 */
function onInstallation(deps: DeliveryDeps, p: InstallationPayload, log: Logger): void {
  const repos = [...(p.repositories ?? []), ...(p.repositories_added ?? []), ...(p.repositories_removed ?? [])]
    .map((r) => r.full_name)
    .filter((r): r is string => typeof r === 'string');
  const known = repos.filter((r) => deps.core.config.repos[r] !== undefined);
  const unknown = repos.filter((r) => deps.core.config.repos[r] === undefined);
  if (unknown.length > 0)
    log.info(
      { action: p.action, installationId: p.installation.id, repos: unknown.slice(0, 20) },
      'App installation event for repositories not in server config; ignored',
    );
  const owners = new Set([...known.map((r) => r.split('/')[0] ?? ''), ...(p.installation.account ? [p.installation.account.login] : [])]);
  if (known.length > 0 || p.action === 'deleted' || p.action === 'suspend') {
    for (const owner of owners) deps.installations?.forgetInstallation(owner);
    log.info({ action: p.action, installationId: p.installation.id, repos: known }, 'App installation changed');
  }
}

import { z } from 'zod';
import type { EmitterWebhookEvent, EmitterWebhookEventName } from '@octokit/webhooks';

/**
 * The webhook payloads Bosun acts on. Their types are `@octokit/webhooks`' own (GitHub's
 * webhook schemas), narrowed to the fields Bosun reads; the zod schemas check exactly those
 * fields after the signature (R6), and only they are kept in the inbox. A field GitHub
 * renames or retypes breaks the build here, not at run time.
 */
type Payload<E extends EmitterWebhookEventName> = EmitterWebhookEvent<E>['payload'];
type GithubPush = Payload<'push'>;
type GithubPull = Payload<'pull_request.opened'>;
type GithubComment = Payload<'issue_comment.created'>;
type GithubCheckRun = Payload<'check_run.requested_action'>;
type GithubInstallation = Payload<'installation.created'>;
type GithubCheckSuite = Payload<'check_suite.rerequested'>;
type GithubInstallationRepos = Payload<'installation_repositories.added'>;

const Sha = z.string().regex(/^[0-9a-f]{40}$/);
const Repository = z.object({ full_name: z.string().min(1).max(200), fork: z.boolean().optional() });
const User = z.object({ id: z.number().int(), login: z.string() });
const Association = z.enum(['COLLABORATOR', 'CONTRIBUTOR', 'FIRST_TIMER', 'FIRST_TIME_CONTRIBUTOR', 'MANNEQUIN', 'MEMBER', 'NONE', 'OWNER']);

type RepoFields = Pick<GithubPush['repository'], 'full_name'> & { fork?: GithubPush['repository']['fork'] };
type UserFields = { id: number; login: string };

export interface PushPayload {
  ref: GithubPush['ref'];
  after: GithubPush['after'];
  deleted?: GithubPush['deleted'];
  repository: RepoFields;
  sender: UserFields;
}
export const PushPayload: z.ZodType<PushPayload> = z.object({
  ref: z.string().min(1),
  after: Sha,
  deleted: z.boolean().optional(),
  repository: Repository,
  sender: User,
});

export interface PullRequestPayload {
  action: string;
  number: GithubPull['number'];
  pull_request: {
    author_association: GithubPull['pull_request']['author_association'];
    user: UserFields;
    head: Pick<GithubPull['pull_request']['head'], 'sha' | 'ref'> & { repo: Pick<NonNullable<GithubPull['pull_request']['head']['repo']>, 'full_name'> | null };
    base: Pick<GithubPull['pull_request']['base'], 'ref'> & { repo: Pick<GithubPull['pull_request']['base']['repo'], 'full_name'> };
  };
  repository: RepoFields;
  sender: UserFields;
}
export const PullRequestPayload: z.ZodType<PullRequestPayload> = z.object({
  action: z.string(),
  number: z.number().int().positive(),
  pull_request: z.object({
    author_association: Association,
    user: User,
    head: z.object({ sha: Sha, ref: z.string().min(1), repo: z.object({ full_name: z.string() }).nullable() }),
    base: z.object({ ref: z.string().min(1), repo: z.object({ full_name: z.string() }) }),
  }),
  repository: Repository,
  sender: User,
});

export interface IssueCommentPayload {
  action: string;
  issue: Pick<GithubComment['issue'], 'number'> & { pull_request?: object | undefined };
  comment: Pick<GithubComment['comment'], 'id' | 'body' | 'author_association'> & { user: UserFields };
  repository: RepoFields;
}
export const IssueCommentPayload: z.ZodType<IssueCommentPayload> = z.object({
  action: z.string(),
  issue: z.object({ number: z.number().int().positive(), pull_request: z.object({}).passthrough().optional() }),
  comment: z.object({ id: z.number().int(), body: z.string().max(65536), user: User, author_association: Association }),
  repository: Repository,
});

export interface CheckRunPayload {
  action: string;
  check_run: Pick<GithubCheckRun['check_run'], 'head_sha'> & { id: number; name: string; external_id?: string | null | undefined };
  requested_action?: Pick<NonNullable<GithubCheckRun['requested_action']>, 'identifier'> | undefined;
  repository: RepoFields;
  sender: UserFields;
}
export const CheckRunPayload: z.ZodType<CheckRunPayload> = z.object({
  action: z.string(),
  check_run: z.object({ id: z.number().int(), name: z.string(), head_sha: Sha, external_id: z.string().nullable().optional() }),
  requested_action: z.object({ identifier: z.string().max(20) }).optional(),
  repository: Repository,
  sender: User,
});

/** "Re-run all checks" on the commit (`check_suite` / `rerequested`). */
export interface CheckSuitePayload {
  action: string;
  check_suite: Pick<GithubCheckSuite['check_suite'], 'head_sha'>;
  repository: RepoFields;
  sender: UserFields;
}
export const CheckSuitePayload: z.ZodType<CheckSuitePayload> = z.object({
  action: z.string(),
  check_suite: z.object({ head_sha: Sha }),
  repository: Repository,
  sender: User,
});

/** `installation` / `installation_repositories`: which repositories the App was given or lost. */
export interface InstallationPayload {
  action: string;
  installation: Pick<GithubInstallation['installation'], 'id'> & { account: { login: string } | null };
  repositories?: Pick<NonNullable<GithubInstallation['repositories']>[number], 'full_name'>[] | undefined;
  repositories_added?: Pick<GithubInstallationRepos['repositories_added'][number], 'full_name'>[] | undefined;
  repositories_removed?: Pick<GithubInstallationRepos['repositories_removed'][number], 'full_name'>[] | undefined;
}
const RepoNames = z
  .array(z.object({ full_name: z.string().max(200) }))
  .max(10_000)
  .optional();
export const InstallationPayload: z.ZodType<InstallationPayload> = z.object({
  action: z.string(),
  installation: z.object({ id: z.number().int(), account: z.object({ login: z.string() }).nullable() }),
  repositories: RepoNames,
  repositories_added: RepoNames,
  repositories_removed: RepoNames,
});

/** Events and actions Bosun acts on; anything else is acknowledged and ignored. */
export const handledEvents: Record<string, readonly string[] | null> = {
  push: null,
  pull_request: ['opened', 'synchronize', 'reopened'],
  issue_comment: ['created'],
  check_run: ['rerequested', 'requested_action'],
  check_suite: ['rerequested'],
  installation: ['created', 'deleted', 'suspend', 'unsuspend', 'new_permissions_accepted'],
  installation_repositories: ['added', 'removed'],
};

export const schemaFor = {
  push: PushPayload,
  pull_request: PullRequestPayload,
  issue_comment: IssueCommentPayload,
  check_run: CheckRunPayload,
  check_suite: CheckSuitePayload,
  installation: InstallationPayload,
  installation_repositories: InstallationPayload,
} as const;
export type HandledEvent = keyof typeof schemaFor;

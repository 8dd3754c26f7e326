import { z } from 'zod';

/** Only the webhook fields Bosun reads, checked after the signature (R6). */
const Sha = z.string().regex(/^[0-9a-f]{40}$/);
const Repository = z.object({ full_name: z.string().min(1).max(200), fork: z.boolean().optional() });
const User = z.object({ id: z.number().int(), login: z.string() });
const Association = z.string();

export const PushPayload = z.object({
  ref: z.string().min(1),
  after: Sha,
  deleted: z.boolean().optional(),
  repository: Repository,
  sender: User,
});
export type PushPayload = z.infer<typeof PushPayload>;

export const PullRequestPayload = z.object({
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
export type PullRequestPayload = z.infer<typeof PullRequestPayload>;

export const IssueCommentPayload = z.object({
  action: z.string(),
  issue: z.object({ number: z.number().int().positive(), pull_request: z.object({}).passthrough().optional() }),
  comment: z.object({ id: z.number().int(), body: z.string().max(65536), user: User, author_association: Association }),
  repository: Repository,
});
export type IssueCommentPayload = z.infer<typeof IssueCommentPayload>;

export const CheckRunPayload = z.object({
  action: z.string(),
  check_run: z.object({ head_sha: Sha, external_id: z.string().nullable().optional() }),
  repository: Repository,
  sender: User,
});
export type CheckRunPayload = z.infer<typeof CheckRunPayload>;

/** Events and actions Bosun acts on; anything else is acknowledged and ignored. */
export const handledEvents: Record<string, readonly string[] | null> = {
  push: null,
  pull_request: ['opened', 'synchronize', 'reopened'],
  issue_comment: ['created'],
  check_run: ['rerequested'],
};

export const schemaFor = { push: PushPayload, pull_request: PullRequestPayload, issue_comment: IssueCommentPayload, check_run: CheckRunPayload } as const;
export type HandledEvent = keyof typeof schemaFor;

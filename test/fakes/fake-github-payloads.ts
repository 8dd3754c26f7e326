import { createRequire } from 'node:module';

/** Real webhook payloads from @octokit/webhooks-examples, with the fields a scenario needs replaced. */
const require = createRequire(import.meta.url);
const examples = require('@octokit/webhooks-examples') as { name: string; examples: Record<string, any>[] }[];

function example(event: string, action?: string): Record<string, any> {
  const found = examples.find((e) => e.name === event)?.examples.find((x) => (action ? x.action === action : true));
  if (!found) throw new Error(`no ${event} ${action ?? ''} example`);
  return structuredClone(found);
}

export interface GithubUser {
  id: number;
  login: string;
}

/**
 * Fields GitHub's webhook schemas (@octokit/webhooks-schemas) now require that the older
 * recorded examples lack; test/github/fake-github-contract.test.ts checks the result.
 */
const repoFields = { is_template: false, web_commit_signoff_required: false, topics: [], visibility: 'public', custom_properties: {} };
const reactions = (url: string) => ({ url, total_count: 0, '+1': 0, '-1': 0, laugh: 0, hooray: 0, confused: 0, heart: 0, rocket: 0, eyes: 0 });
const currentRepo = (r: Record<string, any> | null | undefined) => (r ? { ...repoFields, ...r } : r);

function withRepo(p: Record<string, any>, fullName: string): Record<string, any> {
  const [owner = '', name = ''] = fullName.split('/');
  p.repository = currentRepo({ ...p.repository, full_name: fullName, name, owner: { ...p.repository.owner, login: owner }, fork: false });
  return p;
}

export function pushPayload(o: { repo: string; ref: string; before?: string; after: string; sender: GithubUser; deleted?: boolean }): Record<string, any> {
  const p = withRepo(example('push'), o.repo);
  p.ref = o.ref;
  p.before = o.before ?? '0'.repeat(40);
  p.after = o.after;
  p.deleted = o.deleted ?? false;
  p.created = o.before === undefined;
  p.head_commit = p.head_commit ? { ...p.head_commit, id: o.after } : null;
  p.sender = { ...p.sender, id: o.sender.id, login: o.sender.login };
  return p;
}

export function pullRequestPayload(o: {
  action: 'opened' | 'synchronize' | 'reopened' | 'closed';
  repo: string;
  number: number;
  headSha: string;
  headRef: string;
  baseRef?: string;
  user: GithubUser;
  association?: string;
  fork?: boolean;
}): Record<string, any> {
  const p = withRepo(example('pull_request', 'opened'), o.repo);
  p.action = o.action;
  p.number = o.number;
  const pr = p.pull_request;
  pr.number = o.number;
  pr.user = { ...pr.user, id: o.user.id, login: o.user.login };
  pr.author_association = o.association ?? 'MEMBER';
  pr.head = {
    ...pr.head,
    sha: o.headSha,
    ref: o.headRef,
    repo: { ...pr.head.repo, full_name: o.fork ? `${o.user.login}/${o.repo.split('/')[1]}` : o.repo, fork: !!o.fork },
  };
  pr.base = { ...pr.base, ref: o.baseRef ?? 'master', repo: { ...pr.base.repo, full_name: o.repo } };
  pr.head.repo = currentRepo(pr.head.repo);
  pr.base.repo = currentRepo(pr.base.repo);
  pr.auto_merge = pr.auto_merge ?? null;
  pr.active_lock_reason = pr.active_lock_reason ?? null;
  p.sender = { ...p.sender, id: o.user.id, login: o.user.login };
  return p;
}

export function issueCommentPayload(o: {
  repo: string;
  number: number;
  body: string;
  user: GithubUser;
  association?: string;
  onPullRequest?: boolean;
}): Record<string, any> {
  const p = withRepo(example('issue_comment', 'created'), o.repo);
  p.issue = {
    ...p.issue,
    number: o.number,
    active_lock_reason: p.issue.active_lock_reason ?? null,
    reactions: p.issue.reactions ?? reactions(p.issue.url),
    labels: (p.issue.labels ?? []).map((l: Record<string, any>) => ({ ...l, description: l.description ?? null })),
  };
  if (o.onPullRequest ?? true) p.issue.pull_request = { url: `https://api.github.com/repos/${o.repo}/pulls/${o.number}` };
  else delete p.issue.pull_request;
  p.comment = {
    ...p.comment,
    performed_via_github_app: p.comment.performed_via_github_app ?? null,
    reactions: p.comment.reactions ?? reactions(p.comment.url),
    id: Math.floor(Math.random() * 1e9),
    body: o.body,
    user: { ...p.comment.user, id: o.user.id, login: o.user.login },
    author_association: o.association ?? 'MEMBER',
  };
  p.sender = { ...p.sender, id: o.user.id, login: o.user.login };
  return p;
}

export function checkRunPayload(o: { repo: string; headSha: string; sender: GithubUser }): Record<string, any> {
  const p = withRepo(example('check_run', 'rerequested'), o.repo);
  p.check_run = { ...p.check_run, head_sha: o.headSha };
  p.sender = { ...p.sender, id: o.sender.id, login: o.sender.login };
  return p;
}

/** "Re-run failed" clicked on a check run (`check_run` / `requested_action`). */
export function requestedActionPayload(o: {
  repo: string;
  checkRun: { id: number; name: string; head_sha: string; external_id: string | null };
  identifier: string;
  sender: GithubUser;
}): Record<string, any> {
  const p = withRepo(example('check_run', 'requested_action'), o.repo);
  p.check_run = { ...p.check_run, id: o.checkRun.id, name: o.checkRun.name, head_sha: o.checkRun.head_sha, external_id: o.checkRun.external_id ?? '' };
  p.requested_action = { identifier: o.identifier };
  p.sender = { ...p.sender, id: o.sender.id, login: o.sender.login };
  return p;
}

/** The App given access to more repositories (`installation_repositories` / `added`). */
export function installationReposPayload(o: { installationId: number; account: string; added: string[] }): Record<string, any> {
  const p = example('installation_repositories', 'added');
  p.installation = {
    ...p.installation,
    id: o.installationId,
    account: { ...p.installation.account, login: o.account },
    suspended_at: null,
    suspended_by: null,
  };
  p.requester = p.requester ?? null;
  p.repositories_added = o.added.map((full_name, i) => ({
    ...(p.repositories_added[0] ?? {}),
    id: 9000 + i,
    full_name,
    name: full_name.split('/')[1] ?? full_name,
    node_id: `R_${i}`,
    private: false,
  }));
  p.repositories_removed = [];
  return p;
}

/** "Re-run all checks" on a commit (`check_suite` / `rerequested`). */
export function checkSuiteRerequestedPayload(o: { repo: string; headSha: string; sender: GithubUser }): Record<string, any> {
  const p = withRepo(example('check_suite', 'rerequested'), o.repo);
  p.check_suite = { ...p.check_suite, head_sha: o.headSha };
  p.sender = { ...p.sender, id: o.sender.id, login: o.sender.login };
  return p;
}

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

function withRepo(p: Record<string, any>, fullName: string): Record<string, any> {
  const [owner = '', name = ''] = fullName.split('/');
  p.repository = { ...p.repository, full_name: fullName, name, owner: { ...p.repository.owner, login: owner }, fork: false };
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
  action: 'opened' | 'synchronize' | 'reopened' | 'closed'; repo: string; number: number; headSha: string; headRef: string;
  baseRef?: string; user: GithubUser; association?: string; fork?: boolean;
}): Record<string, any> {
  const p = withRepo(example('pull_request', 'opened'), o.repo);
  p.action = o.action;
  p.number = o.number;
  const pr = p.pull_request;
  pr.number = o.number;
  pr.user = { ...pr.user, id: o.user.id, login: o.user.login };
  pr.author_association = o.association ?? 'MEMBER';
  pr.head = { ...pr.head, sha: o.headSha, ref: o.headRef, repo: { ...pr.head.repo, full_name: o.fork ? `${o.user.login}/${o.repo.split('/')[1]}` : o.repo, fork: !!o.fork } };
  pr.base = { ...pr.base, ref: o.baseRef ?? 'master', repo: { ...pr.base.repo, full_name: o.repo } };
  p.sender = { ...p.sender, id: o.user.id, login: o.user.login };
  return p;
}

export function issueCommentPayload(o: { repo: string; number: number; body: string; user: GithubUser; association?: string; onPullRequest?: boolean }): Record<string, any> {
  const p = withRepo(example('issue_comment', 'created'), o.repo);
  p.issue = { ...p.issue, number: o.number };
  if (o.onPullRequest ?? true) p.issue.pull_request = { url: `https://api.github.com/repos/${o.repo}/pulls/${o.number}` };
  else delete p.issue.pull_request;
  p.comment = { ...p.comment, id: Math.floor(Math.random() * 1e9), body: o.body, user: { ...p.comment.user, id: o.user.id, login: o.user.login }, author_association: o.association ?? 'MEMBER' };
  p.sender = { ...p.sender, id: o.user.id, login: o.user.login };
  return p;
}

export function checkRunPayload(o: { repo: string; headSha: string; sender: GithubUser }): Record<string, any> {
  const p = withRepo(example('check_run', 'rerequested'), o.repo);
  p.check_run = { ...p.check_run, head_sha: o.headSha };
  p.sender = { ...p.sender, id: o.sender.id, login: o.sender.login };
  return p;
}

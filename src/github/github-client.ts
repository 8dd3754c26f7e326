import { Octokit } from '@octokit/rest';
import type { Logger } from '../logger.js';
import { staticTokens, type TokenSource } from './app-tokens.js';
import type { Annotation } from './check-run-output.js';

export type CommitState = 'pending' | 'success' | 'failure' | 'error';
export type CompareStatus = 'ahead' | 'behind' | 'identical' | 'diverged';

export interface RepoId {
  owner: string;
  repo: string;
}

/** A review as the merge policy needs it. */
export interface Review {
  userId: number;
  login: string;
  state: string;
  commitId: string | null;
}

export interface PullInfo {
  number: number;
  headSha: string;
  headRef: string;
  baseRef: string;
  authorId: number;
  state: string;
}

/** Splits `acme/api` into owner and repo. */
export function repoId(fullName: string): RepoId {
  const [owner = '', repo = ''] = fullName.split('/');
  return { owner, repo };
}

/**
 * The GitHub REST calls Bosun makes, over Octokit. Rate limits (429, or 403 with
 * `Retry-After` / an exhausted quota) are waited out and retried a few times (R24).
 * Credentials come from `tokens` per repository owner (a static token, or a GitHub App's
 * installation tokens); a 401 drops that token and the call is sent once more with a fresh
 * one, so an expired installation token never fails a call.
 * Errors other than rate limits propagate as Octokit's RequestError (`status` set).
 */
export class GithubClient {
  private readonly octokit: Octokit;

  constructor(
    opts: { token?: string; tokens?: TokenSource; baseUrl: string; maxRetryAfterSec: number },
    private readonly log: Logger,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {
    this.octokit = new Octokit({
      baseUrl: opts.baseUrl.replace(/\/$/, ''),
      log: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
    });
    const tokens = opts.tokens ?? (opts.token ? staticTokens(opts.token) : undefined);
    if (tokens) {
      this.octokit.hook.wrap('request', async (request, options) => {
        const { owner, repo } = options as { owner?: unknown; repo?: unknown };
        if (typeof owner !== 'string' || typeof repo !== 'string') return request(options);
        const token = await tokens.token(owner, repo);
        // Octokit passes its own copy of the options to each hook; the header is set on it.
        options.headers.authorization = `token ${token}`;
        try {
          return await request(options);
        } catch (err) {
          if (statusOf(err) !== 401) throw err;
          tokens.invalidate(owner, token);
          this.log.info({ owner, url: options.url }, 'GitHub refused the token (401); retrying with a fresh one');
          options.headers.authorization = `token ${await tokens.token(owner, repo)}`;
          return request(options);
        }
      });
    }
    this.maxRetryAfterSec = opts.maxRetryAfterSec;
  }

  private readonly maxRetryAfterSec: number;

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const wait = retryAfterSec(err);
        if (wait === null || attempt >= 3 || wait > this.maxRetryAfterSec) throw err;
        this.log.warn({ call: what, retryAfterSec: wait, attempt }, 'GitHub rate limit; waiting');
        await this.sleep(wait * 1000);
      }
    }
  }

  async createCommitStatus(r: RepoId, sha: string, s: { state: CommitState; context: string; description: string; targetUrl?: string }): Promise<void> {
    await this.call('statuses', () =>
      this.octokit.repos.createCommitStatus({
        ...r,
        sha,
        state: s.state,
        context: s.context,
        description: s.description.slice(0, 140),
        ...(s.targetUrl ? { target_url: s.targetUrl } : {}),
      }),
    );
  }

  async createCheckRun(r: RepoId, c: { name: string; headSha: string; externalId: string; detailsUrl?: string }): Promise<number> {
    const res = await this.call('checks.create', () =>
      this.octokit.checks.create({
        ...r,
        name: c.name,
        head_sha: c.headSha,
        status: 'in_progress',
        external_id: c.externalId,
        ...(c.detailsUrl ? { details_url: c.detailsUrl } : {}),
      }),
    );
    return res.data.id;
  }

  /**
   * Updates a check run: `conclusion` completes it; `annotations` (at most 50 per call, as
   * GitHub requires) are appended to those already there; `actions` are its buttons.
   */
  async updateCheckRun(
    r: RepoId,
    id: number,
    c: {
      conclusion?: 'success' | 'failure' | 'cancelled' | 'neutral';
      title: string;
      summary: string;
      annotations?: Annotation[];
      actions?: { label: string; description: string; identifier: string }[];
    },
  ): Promise<void> {
    if ((c.annotations?.length ?? 0) > 50) throw new Error('GitHub takes at most 50 annotations per request');
    await this.call('checks.update', () =>
      this.octokit.checks.update({
        ...r,
        check_run_id: id,
        ...(c.conclusion ? { status: 'completed' as const, conclusion: c.conclusion, completed_at: new Date().toISOString() } : {}),
        output: { title: c.title.slice(0, 255), summary: c.summary.slice(0, 65_535), ...(c.annotations?.length ? { annotations: c.annotations } : {}) },
        ...(c.actions ? { actions: c.actions } : {}),
      }),
    );
  }

  async getRef(r: RepoId, ref: string): Promise<string | null> {
    try {
      const res = await this.call('git.getRef', () => this.octokit.git.getRef({ ...r, ref }));
      return res.data.object.sha;
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
  }

  /** Moves a ref; never forces. Returns false when GitHub refuses it as not a fast-forward (422). */
  async fastForwardRef(r: RepoId, ref: string, sha: string): Promise<boolean> {
    try {
      await this.call('git.updateRef', () => this.octokit.git.updateRef({ ...r, ref, sha, force: false }));
      return true;
    } catch (err) {
      if (statusOf(err) === 422) return false;
      throw err;
    }
  }

  async createRef(r: RepoId, ref: string, sha: string): Promise<void> {
    await this.call('git.createRef', () => this.octokit.git.createRef({ ...r, ref: `refs/${ref}`, sha }));
  }

  async compare(r: RepoId, base: string, head: string): Promise<CompareStatus> {
    const res = await this.call('compare', () => this.octokit.repos.compareCommitsWithBasehead({ ...r, basehead: `${base}...${head}` }));
    return res.data.status as CompareStatus;
  }

  async getPull(r: RepoId, n: number): Promise<PullInfo> {
    const res = await this.call('pulls.get', () => this.octokit.pulls.get({ ...r, pull_number: n }));
    const d = res.data;
    return { number: d.number, headSha: d.head.sha, headRef: d.head.ref, baseRef: d.base.ref, authorId: d.user.id, state: d.state };
  }

  async listReviews(r: RepoId, n: number): Promise<Review[]> {
    const res = await this.call('pulls.listReviews', () => this.octokit.pulls.listReviews({ ...r, pull_number: n, per_page: 100 }));
    return res.data.map((v) => ({ userId: v.user?.id ?? 0, login: v.user?.login ?? '', state: v.state, commitId: v.commit_id ?? null }));
  }

  /** A GitHub deployment of a commit to an environment (no merge of the default branch, no required contexts: Bosun checked). */
  async createDeployment(
    r: RepoId,
    d: { sha: string; environment: string; description: string; payload: Record<string, string>; production: boolean },
  ): Promise<number> {
    const res = await this.call('deployments.create', () =>
      this.octokit.repos.createDeployment({
        ...r,
        ref: d.sha,
        environment: d.environment,
        description: d.description.slice(0, 140),
        payload: d.payload,
        auto_merge: false,
        required_contexts: [],
        transient_environment: false,
        production_environment: d.production,
      }),
    );
    const id = (res.data as { id?: number }).id;
    if (typeof id !== 'number') throw new Error(`GitHub did not create the deployment: ${JSON.stringify(res.data).slice(0, 200)}`);
    return id;
  }

  async createDeploymentStatus(
    r: RepoId,
    id: number,
    s: { state: 'queued' | 'in_progress' | 'success' | 'failure' | 'error' | 'inactive'; description: string; logUrl?: string },
  ): Promise<void> {
    await this.call('deployments.status', () =>
      this.octokit.repos.createDeploymentStatus({
        ...r,
        deployment_id: id,
        state: s.state,
        description: s.description.slice(0, 140),
        ...(s.logUrl ? { log_url: s.logUrl } : {}),
      }),
    );
  }

  async createComment(r: RepoId, n: number, body: string): Promise<void> {
    await this.call('issues.createComment', () => this.octokit.issues.createComment({ ...r, issue_number: n, body }));
  }
}

export function statusOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'status' in err && typeof err.status === 'number' ? err.status : undefined;
}

/** Seconds to wait before retrying a rate-limited call, or null when the error is no rate limit. */
export function retryAfterSec(err: unknown): number | null {
  const status = statusOf(err);
  if (status !== 429 && status !== 403) return null;
  const headers = (err as { response?: { headers?: Record<string, string | undefined> } }).response?.headers ?? {};
  const after = headers['retry-after'];
  if (after !== undefined && /^\d+$/.test(after)) return Number(after);
  if (headers['x-ratelimit-remaining'] === '0' && headers['x-ratelimit-reset']) {
    return Math.max(0, Number(headers['x-ratelimit-reset']) - Math.floor(Date.now() / 1000));
  }
  return status === 429 ? 1 : null;
}

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes, randomUUID, verify as verifySignature, type KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { git } from '../../src/git/git.js';
import { signBody } from './github-signature.js';
import { pushPayload, type GithubUser } from './fake-github-payloads.js';

/**
 * GitHub's own example responses (from @octokit/openapi, `components.examples`, extracted to
 * test/fixtures/github-api-examples.json): the fake answers in these shapes with its own
 * values filled in, and test/github/fake-github-contract.test.ts validates what it answers
 * against GitHub's schemas.
 */
const examples = createRequire(import.meta.url)('../fixtures/github-api-examples.json') as Record<string, any>;
const example = (name: string): any => structuredClone(examples[name]);

export interface RecordedRequest {
  method: string;
  path: string;
  body: any;
  status: number;
  /** What the fake answered. */
  response?: unknown;
  /** `app` (a verified JWT), `installation` (a valid installation token) or `none`. */
  auth?: 'app' | 'installation' | 'none';
}

/** A GitHub App registered with the fake: its id, public key and installations per account. */
export interface FakeApp {
  id: number;
  publicKey: KeyObject;
  installations: Record<string, number>;
  /** Lifetime of an installation token (GitHub: one hour). */
  tokenTtlSec: number;
}

export interface FakeStatus {
  repo: string;
  sha: string;
  state: string;
  context: string;
  description: string;
  target_url?: string;
}

export interface FakeCheckRun {
  id: number;
  repo: string;
  name: string;
  head_sha: string;
  status: string;
  conclusion?: string;
  external_id: string | null;
  details_url: string | null;
  check_suite: number;
  started_at: string;
  completed_at?: string;
  output?: { title: string; summary: string };
  annotations: {
    path: string;
    start_line: number;
    end_line: number;
    annotation_level: string;
    message: string;
    title?: string;
    start_column?: number;
    end_column?: number;
  }[];
  actions: { label: string; description: string; identifier: string }[];
}

export interface FakePull {
  number: number;
  headRef: string;
  baseRef: string;
  user: GithubUser;
  state: 'open' | 'closed';
}

interface FakeRepo {
  dir: string;
  pulls: Map<number, FakePull>;
  reviews: Map<number, { id: number; user: GithubUser; state: string; commit_id: string }[]>;
}

/**
 * A GitHub that speaks the REST endpoints Bosun uses, on 127.0.0.1, backed by real git
 * repositories on disk: refs move with `git update-ref <ref> <new> <old>` (compare-and-swap)
 * and fast-forwards are checked with `git merge-base --is-ancestor`, as GitHub does. Every
 * request is recorded, so tests assert what a GitHub user would see (statuses, check runs,
 * comments). When a ref moves it delivers a signed `push` webhook to Bosun, like GitHub.
 */
export class FakeGithub {
  readonly requests: RecordedRequest[] = [];
  readonly statuses: FakeStatus[] = [];
  readonly checkRuns = new Map<number, FakeCheckRun>();
  readonly comments: { repo: string; number: number; body: string }[] = [];
  readonly deliveries: { id: string; event: string; status: number }[] = [];
  /** GitHub Deployments created, with their statuses in order. */
  readonly deployments: {
    id: number;
    repo: string;
    ref: string;
    environment: string;
    description: string;
    payload: unknown;
    statuses: { state: string; description: string }[];
  }[] = [];
  private readonly repos = new Map<string, FakeRepo>();
  private readonly failures: { pattern: RegExp; status: number; headers: Record<string, string>; times: number }[] = [];
  private server: Server | null = null;
  private pending = new Set<Promise<unknown>>();
  url = '';
  /** Where webhooks go, and the secret they are signed with. */
  webhook: { url: string; secret: string } | null = null;
  pusher: GithubUser = { id: 1, login: 'pusher' };
  /** With an App registered, repository calls need one of its installation tokens (else 401), as on GitHub. */
  app: FakeApp | null = null;
  readonly installationTokens = new Map<string, { installationId: number; account: string; expiresAtMs: number }>();
  readonly checkSuites = new Map<number, { repo: string; head_sha: string }>();

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.route(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    await this.settled();
    await new Promise<void>((r) => this.server?.close(() => r()));
  }

  addRepo(fullName: string, dir: string): void {
    this.repos.set(fullName, { dir, pulls: new Map(), reviews: new Map() });
  }

  addPull(repo: string, pull: Omit<FakePull, 'state'>): void {
    this.repo(repo).pulls.set(pull.number, { ...pull, state: 'open' });
  }

  async addReview(repo: string, number: number, user: GithubUser, state: 'APPROVED' | 'CHANGES_REQUESTED' | 'COMMENTED'): Promise<void> {
    const r = this.repo(repo);
    const list = r.reviews.get(number) ?? [];
    list.push({ id: list.length + 1, user, state, commit_id: await this.headOf(repo, number) });
    r.reviews.set(number, list);
  }

  /** The next `times` requests matching `pattern` get `status` with `headers` (rate limits). */
  failNext(pattern: RegExp, status: number, headers: Record<string, string>, times = 1): void {
    this.failures.push({ pattern, status, headers, times });
  }

  clearFailures(): void {
    this.failures.length = 0;
  }

  statusesFor(repo: string, sha: string, context?: string): FakeStatus[] {
    return this.statuses.filter((s) => s.repo === repo && s.sha === sha && (!context || s.context === context));
  }

  /** The latest state per context, as GitHub's combined status shows it. */
  latest(repo: string, sha: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const s of this.statusesFor(repo, sha)) out[s.context] = s.state;
    return out;
  }

  async headOf(repo: string, number: number): Promise<string> {
    const pull = this.repo(repo).pulls.get(number);
    if (!pull) throw new Error(`no pull ${repo}#${number}`);
    return this.rev(repo, `refs/heads/${pull.headRef}`);
  }

  async rev(repo: string, name: string): Promise<string> {
    return (await git(['rev-parse', '--verify', '--end-of-options', `${name}^{commit}`], { cwd: this.repo(repo).dir })).trim();
  }

  /** Signs and POSTs a webhook to Bosun, as GitHub would. */
  async deliver(event: string, payload: unknown, opts: { id?: string; secret?: string } = {}): Promise<{ status: number; body: string }> {
    if (!this.webhook) throw new Error('no webhook target');
    const id = opts.id ?? randomUUID();
    const body = JSON.stringify(payload);
    const res = await fetch(this.webhook.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': event,
        'x-github-delivery': id,
        'x-hub-signature-256': signBody(opts.secret ?? this.webhook.secret, body),
        'user-agent': 'GitHub-Hookshot/fake',
      },
      body,
    });
    const text = await res.text();
    this.deliveries.push({ id, event, status: res.status });
    return { status: res.status, body: text };
  }

  /** Waits for webhooks the fake sent on its own (after ref updates). */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private repo(name: string): FakeRepo {
    const r = this.repos.get(name);
    if (!r) throw new HttpFailure(404, 'Not Found');
    return r;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const body = raw ? JSON.parse(raw) : undefined;
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const method = req.method ?? 'GET';
    let status: number;
    let out: unknown;
    let headers: Record<string, string> = {};
    const failure = this.failures.find((f) => f.times > 0 && f.pattern.test(`${method} ${path}`));
    try {
      if (failure) {
        failure.times -= 1;
        status = failure.status;
        headers = failure.headers;
        out = { message: 'You have exceeded a secondary rate limit.' };
      } else {
        [status, out] = await this.handle(method, path, body, req.headers.authorization);
      }
    } catch (err) {
      status = err instanceof HttpFailure ? err.status : 500;
      out = { message: err instanceof Error ? err.message : String(err), documentation_url: 'https://docs.github.com/rest', status: String(status) };
    }
    this.requests.push({ method, path, body, status, response: out });
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(status === 204 ? undefined : JSON.stringify(out));
  }

  /** GitHub refuses more than 50 annotations in one request (422), and appends them otherwise. */
  private addAnnotations(run: FakeCheckRun, list: FakeCheckRun['annotations'] | undefined): void {
    if (!list) return;
    if (list.length > 50) throw new HttpFailure(422, 'Only 50 annotations are allowed per request');
    for (const a of list) {
      if (!a.path || !(a.start_line >= 1) || !(a.end_line >= a.start_line) || !['notice', 'warning', 'failure'].includes(a.annotation_level) || !a.message)
        throw new HttpFailure(422, 'Invalid annotation');
    }
    run.annotations.push(...list);
  }

  /** Every installation token issued so far stops working at once (as when they expire). */
  expireInstallationTokens(): void {
    for (const t of this.installationTokens.values()) t.expiresAtMs = 0;
  }

  /** The App's JWT: RS256 over header.payload with the App's key, `iss` = app id, at most 10 minutes long. */
  private verifyJwt(authorization: string | undefined): void {
    const app = this.app;
    const m = /^bearer (.+)$/i.exec(authorization ?? '');
    if (!app || !m) throw new HttpFailure(401, 'A JSON web token could not be decoded');
    const [h = '', p = '', sig = ''] = m[1]!.split('.');
    const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { alg?: string };
    if (header.alg !== 'RS256') throw new HttpFailure(401, 'A JSON web token could not be decoded');
    if (!verifySignature('RSA-SHA256', Buffer.from(`${h}.${p}`), app.publicKey, Buffer.from(sig, 'base64url'))) {
      throw new HttpFailure(401, "'Issuer' claim ('iss') must be an Integer");
    }
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as { iss?: unknown; iat?: number; exp?: number };
    const now = Math.floor(Date.now() / 1000);
    if (String(claims.iss) !== String(app.id)) throw new HttpFailure(401, 'Integration not found');
    if (!claims.exp || claims.exp <= now)
      throw new HttpFailure(401, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires");
    if (!claims.iat || claims.iat > now + 60 || claims.exp - claims.iat > 600)
      throw new HttpFailure(401, "'Expiration time' claim ('exp') is too far in the future");
  }

  /** A repository call with an App registered: a live installation token of the repository's owner, or 401. */
  private checkInstallationToken(authorization: string | undefined, owner: string): void {
    const m = /^(?:token|bearer) (.+)$/i.exec(authorization ?? '');
    const t = m ? this.installationTokens.get(m[1]!) : undefined;
    if (!t || t.expiresAtMs <= Date.now() || t.account !== owner) throw new HttpFailure(401, 'Bad credentials');
  }

  private async handleApp(method: string, path: string, authorization: string | undefined): Promise<[number, unknown] | null> {
    const app = this.app;
    let r: RegExpExecArray | null;
    if (method === 'GET' && (r = /^\/repos\/([^/]+)\/([^/]+)\/installation$/.exec(path))) {
      this.verifyJwt(authorization);
      const owner = decodeURIComponent(r[1]!);
      this.repo(`${owner}/${decodeURIComponent(r[2]!)}`);
      const id = app?.installations[owner];
      if (!id) throw new HttpFailure(404, 'Not Found');
      return [200, installation(id, owner, app!.id)];
    }
    if (method === 'GET' && path === '/app/installations') {
      this.verifyJwt(authorization);
      return [200, Object.entries(app!.installations).map(([owner, id]) => installation(id, owner, app!.id))];
    }
    if (method === 'POST' && (r = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(path))) {
      this.verifyJwt(authorization);
      const id = Number(r[1]);
      const account = Object.entries(app!.installations).find(([, v]) => v === id)?.[0];
      if (!account) throw new HttpFailure(404, 'Not Found');
      const token = `ghs_${randomBytes(18).toString('hex')}`;
      const expiresAtMs = Date.now() + app!.tokenTtlSec * 1000;
      this.installationTokens.set(token, { installationId: id, account, expiresAtMs });
      const t = example('installation-token');
      delete t.repositories;
      return [
        201,
        {
          ...t,
          token,
          expires_at: new Date(expiresAtMs).toISOString().replace(/\.\d{3}Z$/, 'Z'),
          permissions: { checks: 'write', statuses: 'write', contents: 'write', pull_requests: 'write', metadata: 'read' },
          repository_selection: 'all',
        },
      ];
    }
    return null;
  }

  private async handle(method: string, path: string, body: any, authorization?: string): Promise<[number, unknown]> {
    if (this.app) {
      const answered = await this.handleApp(method, path, authorization);
      if (answered) return answered;
    }
    const m = /^\/repos\/([^/]+)\/([^/]+)\/(.*)$/.exec(path);
    if (!m) throw new HttpFailure(404, 'Not Found');
    if (this.app) this.checkInstallationToken(authorization, decodeURIComponent(m[1]!));
    const repo = `${decodeURIComponent(m[1]!)}/${decodeURIComponent(m[2]!)}`;
    const rest = m[3]!;
    let r: RegExpExecArray | null;
    if (method === 'POST' && (r = /^statuses\/([0-9a-f]{40})$/.exec(rest))) {
      this.repo(repo);
      this.statuses.push({ repo, sha: r[1]!, state: body.state, context: body.context, description: body.description, target_url: body.target_url });
      return [
        201,
        {
          ...example('status'),
          id: this.statuses.length,
          state: body.state,
          context: body.context,
          description: body.description ?? null,
          target_url: body.target_url ?? null,
        },
      ];
    }
    if (method === 'POST' && rest === 'check-runs') {
      this.repo(repo);
      const id = this.checkRuns.size + 1;
      // GitHub puts every check run in the App's check suite for the head commit, creating it on first use.
      let suite = [...this.checkSuites].find(([, v]) => v.repo === repo && v.head_sha === body.head_sha)?.[0];
      if (!suite) {
        suite = this.checkSuites.size + 1;
        this.checkSuites.set(suite, { repo, head_sha: body.head_sha });
      }
      const run: FakeCheckRun = {
        id,
        repo,
        name: body.name,
        head_sha: body.head_sha,
        status: body.status ?? 'queued',
        external_id: body.external_id ?? null,
        details_url: body.details_url ?? null,
        check_suite: suite,
        annotations: [],
        actions: [],
        started_at: new Date().toISOString(),
        output: body.output,
      };
      this.addAnnotations(run, body.output?.annotations);
      this.checkRuns.set(id, run);
      return [201, checkRunShape(run)];
    }
    if (method === 'PATCH' && (r = /^check-runs\/(\d+)$/.exec(rest))) {
      const run = this.checkRuns.get(Number(r[1]));
      if (!run || run.repo !== repo) throw new HttpFailure(404, 'Not Found');
      if (body.conclusion && body.status && body.status !== 'completed') throw new HttpFailure(422, 'Invalid request.');
      this.addAnnotations(run, body.output?.annotations);
      Object.assign(run, {
        status: body.conclusion ? 'completed' : (body.status ?? run.status),
        conclusion: body.conclusion ?? run.conclusion,
        output: body.output ? { title: body.output.title, summary: body.output.summary } : run.output,
        actions: body.actions ?? run.actions,
        ...(body.conclusion ? { completed_at: body.completed_at ?? new Date().toISOString() } : {}),
      });
      return [200, checkRunShape(run)];
    }
    if (method === 'POST' && rest === 'deployments') {
      this.repo(repo);
      if (typeof body.ref !== 'string' || typeof body.environment !== 'string') throw new HttpFailure(422, 'ref and environment are required');
      const id = this.deployments.length + 1;
      this.deployments.push({
        id,
        repo,
        ref: body.ref,
        environment: body.environment,
        description: body.description ?? '',
        payload: body.payload,
        statuses: [],
      });
      return [201, { id, ref: body.ref, environment: body.environment }];
    }
    if (method === 'POST' && (r = /^deployments\/(\d+)\/statuses$/.exec(rest))) {
      const dep = this.deployments.find((d) => d.id === Number(r![1]) && d.repo === repo);
      if (!dep) throw new HttpFailure(404, 'Not Found');
      if (!['error', 'failure', 'inactive', 'in_progress', 'queued', 'pending', 'success'].includes(body.state))
        throw new HttpFailure(422, `invalid state ${body.state}`);
      dep.statuses.push({ state: body.state, description: body.description ?? '' });
      return [201, { id: dep.statuses.length, state: body.state }];
    }
    if (method === 'GET' && (r = /^git\/ref\/(.+)$/.exec(rest))) {
      const ref = decodeURIComponent(r[1]!);
      const sha = await this.rev(repo, `refs/${ref}`).catch(() => null);
      if (!sha) throw new HttpFailure(404, 'Not Found');
      return [200, refShape(repo, `refs/${ref}`, sha)];
    }
    if (method === 'PATCH' && (r = /^git\/refs\/(.+)$/.exec(rest))) return this.updateRef(repo, decodeURIComponent(r[1]!), body.sha, body.force === true);
    if (method === 'POST' && rest === 'git/refs') return this.createRef(repo, body.ref, body.sha);
    if (method === 'GET' && (r = /^compare\/(.+)$/.exec(rest))) {
      const [base = '', head = ''] = decodeURIComponent(r[1]!).split('...');
      return [200, { ...example('commit-comparison'), status: await this.compare(repo, base, head), commits: [], files: [] }];
    }
    if (method === 'GET' && (r = /^pulls\/(\d+)$/.exec(rest))) {
      const pull = this.repo(repo).pulls.get(Number(r[1]));
      if (!pull) throw new HttpFailure(404, 'Not Found');
      const sha = await this.headOf(repo, pull.number);
      const ex = example('pull-request');
      return [
        200,
        {
          ...ex,
          number: pull.number,
          state: pull.state,
          user: { ...ex.user, id: pull.user.id, login: pull.user.login },
          requested_teams: [],
          head: { ...ex.head, sha, ref: pull.headRef, repo: { ...ex.head.repo, full_name: repo } },
          base: { ...ex.base, ref: pull.baseRef, repo: { ...ex.base.repo, full_name: repo } },
        },
      ];
    }
    if (method === 'GET' && (r = /^pulls\/(\d+)\/reviews$/.exec(rest))) {
      const ex = example('pull-request-review-items')[0];
      return [
        200,
        (this.repo(repo).reviews.get(Number(r[1])) ?? []).map((v) => ({
          ...ex,
          id: v.id,
          user: { ...ex.user, id: v.user.id, login: v.user.login },
          state: v.state,
          commit_id: v.commit_id,
        })),
      ];
    }
    if (method === 'POST' && (r = /^issues\/(\d+)\/comments$/.exec(rest))) {
      this.comments.push({ repo, number: Number(r[1]), body: body.body });
      return [201, { ...example('issue-comment'), id: this.comments.length, body: body.body }];
    }
    throw new HttpFailure(404, 'Not Found');
  }

  private async isAncestor(repo: string, a: string, b: string): Promise<boolean> {
    return git(['merge-base', '--is-ancestor', '--end-of-options', a, b], { cwd: this.repo(repo).dir }).then(
      () => true,
      () => false,
    );
  }

  private async compare(repo: string, base: string, head: string): Promise<string> {
    const b = await this.rev(repo, base);
    const h = await this.rev(repo, head);
    if (b === h) return 'identical';
    if (await this.isAncestor(repo, b, h)) return 'ahead';
    if (await this.isAncestor(repo, h, b)) return 'behind';
    return 'diverged';
  }

  /** The next `n` ref updates wait for each other and then run at once (a deterministic race). */
  gateRefUpdates(n: number): void {
    let release!: () => void;
    this.refGate = { waiting: 0, n, open: new Promise<void>((r) => (release = r)), release };
  }

  private refGate: { waiting: number; n: number; open: Promise<void>; release(): void } | null = null;

  /**
   * `PATCH /git/refs/{ref}` as GitHub does it: without `force`, the new commit must have the
   * current one as an ancestor, and the write is a compare-and-swap on the value read, so of
   * two racing updates exactly one lands; the other gets 422 "Update is not a fast forward".
   */
  private async updateRef(repo: string, ref: string, sha: string, force: boolean): Promise<[number, unknown]> {
    const full = `refs/${ref}`;
    const gate = this.refGate;
    if (gate) {
      gate.waiting += 1;
      if (gate.waiting >= gate.n) {
        this.refGate = null;
        gate.release();
      }
      await gate.open;
    }
    const old = await this.rev(repo, full).catch(() => null);
    if (!old) throw new HttpFailure(422, 'Reference does not exist');
    if (!force && !(await this.isAncestor(repo, old, sha))) throw new HttpFailure(422, 'Update is not a fast forward');
    try {
      await git(['update-ref', full, sha, old], { cwd: this.repo(repo).dir });
    } catch {
      // Another update moved the ref between our read and our write.
      throw new HttpFailure(422, 'Update is not a fast forward');
    }
    this.pushed(repo, full, old, sha);
    return [200, refShape(repo, full, sha)];
  }

  private async createRef(repo: string, full: string, sha: string): Promise<[number, unknown]> {
    try {
      await git(['update-ref', full, sha, '0'.repeat(40)], { cwd: this.repo(repo).dir });
    } catch {
      throw new HttpFailure(422, 'Reference already exists');
    }
    this.pushed(repo, full, undefined, sha);
    return [201, refShape(repo, full, sha)];
  }

  /** A ref moved: GitHub sends a push webhook. */
  private pushed(repo: string, ref: string, before: string | undefined, after: string): void {
    if (!this.webhook) return;
    const p = this.deliver('push', pushPayload({ repo, ref, ...(before ? { before } : {}), after, sender: this.pusher })).catch(() => undefined);
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }
}

function checkRunShape(run: FakeCheckRun): Record<string, unknown> {
  const api = `https://api.github.com/repos/${run.repo}`;
  const ex = example('check-run');
  return {
    ...ex,
    id: run.id,
    head_sha: run.head_sha,
    node_id: `CR_${run.id}`,
    external_id: run.external_id,
    url: `${api}/check-runs/${run.id}`,
    html_url: `https://github.com/${run.repo}/runs/${run.id}`,
    details_url: run.details_url,
    status: run.status,
    conclusion: run.conclusion ?? null,
    started_at: run.started_at,
    completed_at: run.completed_at ?? null,
    name: run.name,
    output: {
      title: run.output?.title ?? null,
      summary: run.output?.summary ?? null,
      text: null,
      annotations_count: run.annotations.length,
      annotations_url: `${api}/check-runs/${run.id}/annotations`,
    },
    check_suite: { id: run.check_suite },
    pull_requests: [],
  };
}

function installation(id: number, owner: string, appId: number): Record<string, unknown> {
  const ex = example('installation');
  const stamp = '2026-01-01T00:00:00Z';
  return {
    ...ex,
    id,
    app_id: appId,
    account: { ...ex.account, login: owner, name: owner, slug: owner, created_at: stamp, updated_at: stamp },
    suspended_at: null,
    suspended_by: null,
  };
}

function refShape(repo: string, ref: string, sha: string): Record<string, unknown> {
  const ex = example('git-ref');
  return {
    ...ex,
    ref,
    url: `https://api.github.com/repos/${repo}/git/${ref}`,
    object: { ...ex.object, sha, type: 'commit', url: `https://api.github.com/repos/${repo}/git/commits/${sha}` },
  };
}

class HttpFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { git } from '../../src/git/git.js';
import { signBody } from './github-signature.js';
import { pushPayload, type GithubUser } from './fake-github-payloads.js';

export interface RecordedRequest {
  method: string;
  path: string;
  body: any;
  status: number;
}

export interface FakeStatus {
  repo: string;
  sha: string;
  state: string;
  context: string;
  description: string;
  target_url?: string;
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
  readonly checkRuns = new Map<number, { repo: string; name: string; head_sha: string; status: string; conclusion?: string; output?: { title: string; summary: string } }>();
  readonly comments: { repo: string; number: number; body: string }[] = [];
  readonly deliveries: { id: string; event: string; status: number }[] = [];
  private readonly repos = new Map<string, FakeRepo>();
  private readonly failures: { pattern: RegExp; status: number; headers: Record<string, string>; times: number }[] = [];
  private server: Server | null = null;
  private pending = new Set<Promise<unknown>>();
  url = '';
  /** Where webhooks go, and the secret they are signed with. */
  webhook: { url: string; secret: string } | null = null;
  pusher: GithubUser = { id: 1, login: 'pusher' };

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
        'content-type': 'application/json', 'x-github-event': event, 'x-github-delivery': id,
        'x-hub-signature-256': signBody(opts.secret ?? this.webhook.secret, body), 'user-agent': 'GitHub-Hookshot/fake',
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
        [status, out] = await this.handle(method, path, body);
      }
    } catch (err) {
      status = err instanceof HttpFailure ? err.status : 500;
      out = { message: err instanceof Error ? err.message : String(err) };
    }
    this.requests.push({ method, path, body, status });
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(status === 204 ? undefined : JSON.stringify(out));
  }

  private async handle(method: string, path: string, body: any): Promise<[number, unknown]> {
    const m = /^\/repos\/([^/]+)\/([^/]+)\/(.*)$/.exec(path);
    if (!m) throw new HttpFailure(404, 'Not Found');
    const repo = `${decodeURIComponent(m[1]!)}/${decodeURIComponent(m[2]!)}`;
    const rest = m[3]!;
    let r: RegExpExecArray | null;
    if (method === 'POST' && (r = /^statuses\/([0-9a-f]{40})$/.exec(rest))) {
      this.repo(repo);
      this.statuses.push({ repo, sha: r[1]!, state: body.state, context: body.context, description: body.description, target_url: body.target_url });
      return [201, { id: this.statuses.length, state: body.state, context: body.context }];
    }
    if (method === 'POST' && rest === 'check-runs') {
      const id = this.checkRuns.size + 1;
      this.checkRuns.set(id, { repo, name: body.name, head_sha: body.head_sha, status: body.status ?? 'queued', output: body.output });
      return [201, { id }];
    }
    if (method === 'PATCH' && (r = /^check-runs\/(\d+)$/.exec(rest))) {
      const run = this.checkRuns.get(Number(r[1]));
      if (!run) throw new HttpFailure(404, 'Not Found');
      Object.assign(run, { status: body.status ?? run.status, conclusion: body.conclusion, output: body.output ?? run.output });
      return [200, { id: Number(r[1]) }];
    }
    if (method === 'GET' && (r = /^git\/ref\/(.+)$/.exec(rest))) {
      const ref = decodeURIComponent(r[1]!);
      const sha = await this.rev(repo, `refs/${ref}`).catch(() => null);
      if (!sha) throw new HttpFailure(404, 'Not Found');
      return [200, { ref: `refs/${ref}`, object: { sha, type: 'commit' } }];
    }
    if (method === 'PATCH' && (r = /^git\/refs\/(.+)$/.exec(rest))) return this.updateRef(repo, decodeURIComponent(r[1]!), body.sha, body.force === true);
    if (method === 'POST' && rest === 'git/refs') return this.createRef(repo, body.ref, body.sha);
    if (method === 'GET' && (r = /^compare\/(.+)$/.exec(rest))) {
      const [base = '', head = ''] = decodeURIComponent(r[1]!).split('...');
      return [200, { status: await this.compare(repo, base, head) }];
    }
    if (method === 'GET' && (r = /^pulls\/(\d+)$/.exec(rest))) {
      const pull = this.repo(repo).pulls.get(Number(r[1]));
      if (!pull) throw new HttpFailure(404, 'Not Found');
      const sha = await this.headOf(repo, pull.number);
      return [200, {
        number: pull.number, state: pull.state, user: pull.user,
        head: { sha, ref: pull.headRef, repo: { full_name: repo } }, base: { ref: pull.baseRef, repo: { full_name: repo } },
      }];
    }
    if (method === 'GET' && (r = /^pulls\/(\d+)\/reviews$/.exec(rest))) return [200, this.repo(repo).reviews.get(Number(r[1])) ?? []];
    if (method === 'POST' && (r = /^issues\/(\d+)\/comments$/.exec(rest))) {
      this.comments.push({ repo, number: Number(r[1]), body: body.body });
      return [201, { id: this.comments.length, body: body.body }];
    }
    throw new HttpFailure(404, 'Not Found');
  }

  private async isAncestor(repo: string, a: string, b: string): Promise<boolean> {
    return git(['merge-base', '--is-ancestor', '--end-of-options', a, b], { cwd: this.repo(repo).dir }).then(() => true, () => false);
  }

  private async compare(repo: string, base: string, head: string): Promise<string> {
    const b = await this.rev(repo, base);
    const h = await this.rev(repo, head);
    if (b === h) return 'identical';
    if (await this.isAncestor(repo, b, h)) return 'ahead';
    if (await this.isAncestor(repo, h, b)) return 'behind';
    return 'diverged';
  }

  private async updateRef(repo: string, ref: string, sha: string, force: boolean): Promise<[number, unknown]> {
    const full = `refs/${ref}`;
    const old = await this.rev(repo, full).catch(() => null);
    if (!old) throw new HttpFailure(422, 'Reference does not exist');
    if (!force && !(await this.isAncestor(repo, old, sha))) throw new HttpFailure(422, 'Update is not a fast forward');
    try {
      await git(['update-ref', full, sha, old], { cwd: this.repo(repo).dir });
    } catch {
      throw new HttpFailure(422, 'Reference cannot be updated');
    }
    this.pushed(repo, full, old, sha);
    return [200, { ref: full, object: { sha, type: 'commit' } }];
  }

  private async createRef(repo: string, full: string, sha: string): Promise<[number, unknown]> {
    try {
      await git(['update-ref', full, sha, '0'.repeat(40)], { cwd: this.repo(repo).dir });
    } catch {
      throw new HttpFailure(422, 'Reference already exists');
    }
    this.pushed(repo, full, undefined, sha);
    return [201, { ref: full, object: { sha, type: 'commit' } }];
  }

  /** A ref moved: GitHub sends a push webhook. */
  private pushed(repo: string, ref: string, before: string | undefined, after: string): void {
    if (!this.webhook) return;
    const p = this.deliver('push', pushPayload({ repo, ref, ...(before ? { before } : {}), after, sender: this.pusher })).catch(() => undefined);
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }
}

class HttpFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

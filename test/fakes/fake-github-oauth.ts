import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export interface GithubOAuthUser {
  id: number;
  login: string;
  name?: string;
}

/**
 * A small GitHub speaking the OAuth web flow's real endpoints: `GET /login/oauth/authorize`
 * (the user "approves" at once: 302 to `redirect_uri` with `code` and `state`),
 * `POST /login/oauth/access_token` (form or JSON; checks client id, secret, code and
 * redirect_uri; answers JSON when asked with `Accept: application/json`, as GitHub does),
 * and `GET /user` (Bearer token). Records every request.
 */
export class FakeGithubOAuth {
  /** Who approves the next authorization. */
  user: GithubOAuthUser = { id: 583231, login: 'octocat', name: 'The Octocat' };
  readonly requests: { method: string; path: string }[] = [];
  private readonly codes = new Map<string, { user: GithubOAuthUser; redirectUri: string }>();
  private readonly tokens = new Map<string, GithubOAuthUser>();
  private server: Server | null = null;
  url = '';

  constructor(
    readonly clientId: string,
    readonly clientSecret: string,
  ) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      this.requests.push({ method: req.method ?? '', path: url.pathname });
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const json = (status: number, value: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(value));
        };
        if (req.method === 'GET' && url.pathname === '/login/oauth/authorize') {
          const q = url.searchParams;
          if (q.get('client_id') !== this.clientId) return json(404, { error: 'unknown client' });
          const redirect = new URL(q.get('redirect_uri') ?? '');
          const code = randomBytes(10).toString('hex');
          this.codes.set(code, { user: this.user, redirectUri: redirect.href });
          redirect.searchParams.set('code', code);
          if (q.get('state')) redirect.searchParams.set('state', q.get('state') ?? '');
          res.writeHead(302, { location: redirect.href }).end();
          return;
        }
        if (req.method === 'POST' && url.pathname === '/login/oauth/access_token') {
          const p: Record<string, string> = (req.headers['content-type'] ?? '').includes('json')
            ? (JSON.parse(body || '{}') as Record<string, string>)
            : Object.fromEntries(new URLSearchParams(body));
          const grant = p.code ? this.codes.get(p.code) : undefined;
          if (p.client_id !== this.clientId || p.client_secret !== this.clientSecret)
            return json(200, { error: 'incorrect_client_credentials', error_description: 'The client_id and/or client_secret passed are incorrect.' });
          if (!grant || (p.redirect_uri && p.redirect_uri !== grant.redirectUri))
            return json(200, { error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.' });
          this.codes.delete(p.code ?? '');
          const token = `gho_${randomBytes(16).toString('hex')}`;
          this.tokens.set(token, grant.user);
          return json(200, { access_token: token, token_type: 'bearer', scope: '' });
        }
        if (req.method === 'GET' && url.pathname === '/user') {
          const token = /^(?:Bearer|token)\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
          const user = token ? this.tokens.get(token) : undefined;
          if (!user) return json(401, { message: 'Requires authentication' });
          return json(200, { id: user.id, login: user.login, name: user.name ?? null, type: 'User' });
        }
        json(404, { message: 'Not Found' });
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

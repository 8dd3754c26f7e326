import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Actor } from '../../domain/build.js';
import { UserError } from '../../errors.js';
import type { AuthConfig } from './auth-config.js';
import type { PendingLogin } from './slack-sign-in.js';

type GithubSettings = NonNullable<AuthConfig['github']>;

const TokenResponse = z.object({ access_token: z.string().min(1), token_type: z.string().optional() });
const TokenError = z.object({ error: z.string(), error_description: z.string().optional() });
const GithubUser = z.object({ id: z.number().int().positive(), login: z.string().min(1), name: z.string().nullish() });

/**
 * Sign in with GitHub: the OAuth web application flow (`/login/oauth/authorize`, then
 * `/login/oauth/access_token`, then `GET /user`), with a random `state`. No scope is asked
 * for: the public profile is all Bosun needs. The actor is `github:<numeric id>`, the id
 * approvals from GitHub use (logins can change; ids do not).
 */
export class GithubSignIn {
  constructor(
    private readonly settings: GithubSettings,
    private readonly fetchFn: typeof fetch = fetch,
  ) {}

  start(redirectUri: string, next: string): { url: URL; pending: PendingLogin } {
    const state = randomBytes(24).toString('base64url');
    const url = new URL(`${this.settings.url}/login/oauth/authorize`);
    url.searchParams.set('client_id', this.settings.clientId);
    url.searchParams.set('redirect_uri', redirectUri);
    url.searchParams.set('state', state);
    url.searchParams.set('allow_signup', 'false');
    return { url, pending: { provider: 'github', state, next, exp: Date.now() + 10 * 60_000 } };
  }

  async finish(callbackUrl: URL, pending: PendingLogin, redirectUri: string): Promise<Actor> {
    const q = callbackUrl.searchParams;
    if (q.get('error')) throw new UserError('forbidden', `GitHub refused: ${q.get('error_description') ?? q.get('error')}`);
    if (q.get('state') !== pending.state) throw new UserError('forbidden', 'the sign-in state does not match; start again');
    const code = q.get('code');
    if (!code) throw new UserError('forbidden', 'GitHub returned no code');
    const res = await this.fetchFn(`${this.settings.url}/login/oauth/access_token`, {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: this.settings.clientId, client_secret: this.settings.clientSecret, code, redirect_uri: redirectUri }),
      signal: AbortSignal.timeout(10_000),
    });
    const body: unknown = await res.json().catch(() => null);
    const token = TokenResponse.safeParse(body);
    if (!res.ok || !token.success) {
      const e = TokenError.safeParse(body);
      throw new UserError('forbidden', `GitHub did not issue a token (${e.success ? (e.data.error_description ?? e.data.error) : `HTTP ${res.status}`})`);
    }
    const userRes = await this.fetchFn(`${this.settings.apiUrl}/user`, {
      headers: {
        accept: 'application/vnd.github+json',
        authorization: `Bearer ${token.data.access_token}`,
        'x-github-api-version': '2022-11-28',
        'user-agent': 'bosun',
      },
      signal: AbortSignal.timeout(10_000),
    });
    const user = GithubUser.safeParse(await userRes.json().catch(() => null));
    if (!userRes.ok || !user.success) throw new UserError('forbidden', `GitHub did not say who signed in (HTTP ${userRes.status})`);
    return { id: `github:${user.data.id}`, name: user.data.login };
  }
}

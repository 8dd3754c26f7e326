import * as oidc from 'openid-client';
import type { Actor } from '../../domain/build.js';
import { UserError } from '../../errors.js';
import type { AuthConfig } from './auth-config.js';

/** What the sign-in flow keeps between the redirect out and the callback (in a signed cookie). */
export interface PendingLogin {
  provider: 'slack' | 'github';
  state: string;
  nonce?: string;
  verifier?: string;
  next: string;
  /** Expiry, ms since the epoch. */
  exp: number;
}

type SlackSettings = NonNullable<AuthConfig['slack']>;

/**
 * Sign in with Slack: OpenID Connect authorization code flow through `openid-client`
 * (discovery, state, nonce, PKCE when the provider offers it, ID token signature and claims
 * verified). The actor is `slack:<team id>/<user id>`, the id approvals from Slack use.
 */
export class SlackSignIn {
  private config: Promise<oidc.Configuration> | null = null;

  constructor(private readonly settings: SlackSettings) {}

  /** The provider's configuration, discovered once (retried on the next sign-in if it failed). */
  private discover(): Promise<oidc.Configuration> {
    this.config ??= oidc
      .discovery(new URL(this.settings.issuer), this.settings.clientId, this.settings.clientSecret, undefined, {
        ...(this.settings.issuer.startsWith('http:') ? { execute: [oidc.allowInsecureRequests] } : {}),
      })
      .catch((err: unknown) => {
        this.config = null;
        throw err;
      });
    return this.config;
  }

  async start(redirectUri: string, next: string): Promise<{ url: URL; pending: PendingLogin }> {
    const config = await this.discover();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const params: Record<string, string> = { redirect_uri: redirectUri, scope: 'openid profile', state, nonce, response_type: 'code' };
    let verifier: string | undefined;
    if (config.serverMetadata().supportsPKCE()) {
      verifier = oidc.randomPKCECodeVerifier();
      params.code_challenge = await oidc.calculatePKCECodeChallenge(verifier);
      params.code_challenge_method = 'S256';
    }
    const pending: PendingLogin = { provider: 'slack', state, nonce, next, exp: Date.now() + 10 * 60_000, ...(verifier ? { verifier } : {}) };
    return { url: oidc.buildAuthorizationUrl(config, params), pending };
  }

  /** Exchanges the code (verifying state, nonce and the ID token) and maps the user to an actor. */
  async finish(callbackUrl: URL, pending: PendingLogin): Promise<Actor> {
    const config = await this.discover();
    const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
      expectedState: pending.state,
      ...(pending.nonce ? { expectedNonce: pending.nonce } : {}),
      ...(pending.verifier ? { pkceCodeVerifier: pending.verifier } : {}),
      idTokenExpected: true,
    });
    const idClaims = tokens.claims();
    if (!idClaims) throw new UserError('forbidden', 'the provider returned no ID token');
    let claims: Record<string, unknown> = idClaims;
    if (typeof claims['https://slack.com/team_id'] !== 'string') {
      claims = { ...(await oidc.fetchUserInfo(config, tokens.access_token, idClaims.sub)), ...idClaims };
    }
    const team = claims['https://slack.com/team_id'];
    const user = typeof claims['https://slack.com/user_id'] === 'string' ? claims['https://slack.com/user_id'] : idClaims.sub;
    if (typeof team !== 'string' || !/^[A-Z0-9]+$/.test(team) || !/^[A-Z0-9]+$/.test(user)) {
      throw new UserError('forbidden', 'Slack did not say which workspace and user signed in');
    }
    const name = typeof claims.name === 'string' ? claims.name : user;
    return { id: `slack:${team}/${user}`, name };
  }
}

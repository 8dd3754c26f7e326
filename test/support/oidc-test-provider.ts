import { createServer, type Server } from 'node:http';
import Provider from 'oidc-provider';

export interface OidcTestProvider {
  issuer: string;
  stop(): Promise<void>;
}

/**
 * A real OpenID Connect provider (`oidc-provider`) on 127.0.0.1, shaped like Slack's: one
 * confidential client (client_secret_post), and accounts whose claims carry Slack's
 * `https://slack.com/team_id` and `https://slack.com/user_id`. Its development login form
 * accepts any login name (which becomes the user id) and any password. ID tokens are really
 * signed (its development keys) and verified by the relying party.
 */
export async function startOidcProvider(opts: {
  port: number;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  teamId: string;
  names?: Record<string, string>;
}): Promise<OidcTestProvider> {
  const issuer = `http://127.0.0.1:${opts.port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: opts.clientId,
        client_secret: opts.clientSecret,
        redirect_uris: [opts.redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
    ],
    claims: { openid: ['sub'], profile: ['name', 'https://slack.com/team_id', 'https://slack.com/user_id'] },
    findAccount: (_ctx, id) => ({
      accountId: id,
      claims: () => ({ sub: id, name: opts.names?.[id] ?? id, 'https://slack.com/team_id': opts.teamId, 'https://slack.com/user_id': id }),
    }),
    // Skip the consent screen: the test client is first-party.
    loadExistingGrant: async (ctx) => {
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client?.clientId ?? '', accountId: ctx.oidc.session?.accountId ?? '' });
      grant.addOIDCScope('openid profile');
      await grant.save();
      return grant;
    },
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['bosun-test-oidc-cookie-key'] },
  });
  const server: Server = createServer(provider.callback());
  await new Promise<void>((resolve) => server.listen(opts.port, '127.0.0.1', resolve));
  return {
    issuer,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

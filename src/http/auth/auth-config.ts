import { z } from 'zod';

/** What an API token (or a session) may do. A session has all three; a token the ones it was made with. */
export const Scope = z.enum(['read', 'build', 'approve']);
export type Scope = z.infer<typeof Scope>;
export const allScopes: readonly Scope[] = Scope.options;

/** `http://` is accepted only on loopback (a local test provider); anything else must be https. */
const ProviderUrl = z
  .string()
  .url()
  .refine((u) => {
    const url = new URL(u);
    return url.protocol === 'https:' || (url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname));
  }, 'expected an https:// URL (http:// only on 127.0.0.1/localhost)')
  .transform((u) => u.replace(/\/+$/, ''));

/** Sign in with Slack (OpenID Connect, authorization code flow). */
export const SlackSignIn = z.strictObject({
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  /** The OpenID issuer; Slack's own unless testing against a local provider. */
  issuer: ProviderUrl.default('https://slack.com'),
});

/** Sign in with GitHub (OAuth web application flow). */
export const GithubSignIn = z.strictObject({
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  /** Where `/login/oauth/authorize` and `/login/oauth/access_token` live. */
  url: ProviderUrl.default('https://github.com'),
  /** Where `GET /user` lives. */
  apiUrl: ProviderUrl.default('https://api.github.com'),
});

/**
 * Sign-in and authorisation (docs/auth.md). Reads need a signed-in user or an API token with
 * `read`, except for repositories marked `public: true`.
 */
export const AuthConfig = z.strictObject({
  /**
   * HMAC keys for session cookies, newest first: the first signs, every one verifies (rotate by
   * putting a new key in front and dropping the old one after `sessionTtlSec`). Empty = a key
   * generated once and kept in `<dataDir>/session-key`. `BOSUN_SESSION_KEYS` (comma-separated,
   * or `BOSUN_SESSION_KEYS_FILE`) replaces this list.
   */
  sessionKeys: z.array(z.string().min(32, 'session keys must be at least 32 characters')).default([]),
  /** How long a sign-in lasts. */
  sessionTtlSec: z
    .number()
    .int()
    .min(60)
    .max(30 * 24 * 3600)
    .default(12 * 3600),
  /**
   * Who may sign in: exact actor ids (`github:583231`, `slack:T0123/U0456`), a whole Slack
   * workspace (`slack:T0123/*`), or `group:<name>` (the members of a configured group).
   * Nobody else gets a session, whatever the provider says.
   */
  allow: z
    .array(z.string().regex(/^(group:[\w.-]+|[a-z]+:[^\s*]+(\/\*)?|slack:[A-Z0-9]+\/\*)$/, 'expected an actor id, slack:<team>/*, or group:<name>'))
    .default([]),
  /** Scopes the server config's `apiTokens` (and the generated local token) carry. */
  configTokenScopes: z.array(Scope).min(1).default(['read', 'build', 'approve']),
  slack: SlackSignIn.optional(),
  github: GithubSignIn.optional(),
});
export type AuthConfig = z.infer<typeof AuthConfig>;

import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { UserError } from '../errors.js';

/** A GitHub App: its id and private key (PEM, inline or from a file such as a Docker secret). */
export const GithubAppConfig = z.strictObject({
  appId: z.union([z.number().int().positive(), z.string().regex(/^\d+$/).transform(Number)]),
  /** The App's private key, PEM (`GITHUB_PRIVATE_KEY`, or `GITHUB_PRIVATE_KEY_FILE`). */
  privateKey: z.string().optional(),
  /** A file holding the private key (e.g. `/run/secrets/github-app.pem`). */
  privateKeyFile: z.string().optional(),
  /** An installation token is fetched again this many seconds before GitHub says it expires. */
  tokenMarginSec: z.number().int().nonnegative().default(300),
});
export type GithubAppConfig = z.infer<typeof GithubAppConfig>;

/**
 * The `github:` section of the server config. Repositories are allowlisted by having an
 * entry in `repos` keyed by their GitHub full name (`acme/api`); everything else is ignored.
 */
export const GithubConfig = z.strictObject({
  /** Webhook secrets; several are accepted at once so a secret can be rotated (R1). */
  webhookSecrets: z.array(z.string()).default([]),
  /** A static token for the REST API (a personal token, for small setups). Not together with `app`. */
  token: z.string().optional(),
  /** Authenticate as a GitHub App (installation tokens per repository owner). Not together with `token`. */
  app: GithubAppConfig.optional(),
  apiUrl: z.string().default('https://api.github.com'),
  /**
   * Check runs beside the commit statuses. GitHub lets only Apps create check runs, so this
   * defaults to on with `app` and off without; with `token` it works only if that token is an
   * App's installation token.
   */
  checkRuns: z.boolean().optional(),
  /** Actor ids (`github:<user id>`) trusted to run `/ci ok-to-test`, besides OWNER/MEMBER/COLLABORATOR. */
  trustedUsers: z.array(z.string()).default([]),
  /** Stages that must be green on a pull request's head before `/ci merge`. */
  requiredStages: z.array(z.string()).default(['test']),
  /** Approving reviews `/ci merge` needs. */
  requiredApprovals: z.number().int().nonnegative().default(1),
  /** Branch promotions fast-forward. */
  productionBranch: z.string().default('production'),
  /** Approver group (from `groups`) for promotions. */
  productionApprovers: z.string().default('release'),
  /** Promotion approvals expire after this many seconds. */
  promotionTimeoutSec: z
    .number()
    .int()
    .positive()
    .default(24 * 3600),
  /** `{ 'acme/api': ['acme/web'] }`: acme/web's tests run on each new master commit of acme/api. */
  downstream: z.record(z.string(), z.array(z.string())).default({}),
  /** Retry budget for rate-limited API calls (429/403 with Retry-After), in seconds. */
  maxRetryAfterSec: z.number().int().positive().default(60),
});
export type GithubConfig = z.infer<typeof GithubConfig>;

/** The App's private key, from `privateKey` or `privateKeyFile`; config_invalid when neither gives a PEM key. */
export function appPrivateKey(app: GithubAppConfig): string {
  let key = app.privateKey;
  if (!key && app.privateKeyFile) {
    if (!existsSync(app.privateKeyFile))
      throw new UserError('config_invalid', `github.app.privateKeyFile points at ${app.privateKeyFile}, which does not exist`);
    key = readFileSync(app.privateKeyFile, 'utf8');
  }
  if (!key) throw new UserError('config_invalid', 'github.app needs privateKey or privateKeyFile (GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_FILE)');
  // Environment variables often carry the PEM with literal \n.
  key = key.includes('\\n') && !key.includes('\n') ? key.replaceAll('\\n', '\n') : key;
  if (!/-----BEGIN (RSA )?PRIVATE KEY-----/.test(key))
    throw new UserError('config_invalid', 'github.app private key is not a PEM RSA private key (the .pem file GitHub gave for the App)');
  return key;
}

/** Whether check runs are posted: explicit `checkRuns`, else on exactly when an App is configured. */
export function checkRunsOn(github: GithubConfig): boolean {
  return github.checkRuns ?? github.app !== undefined;
}

/** Fails fast on a GitHub section that cannot authenticate as configured. */
export function checkGithubConfig(github: GithubConfig): void {
  if (github.app && github.token)
    throw new UserError(
      'config_invalid',
      'invalid server config: github: set either token (GITHUB_TOKEN) or app (GITHUB_APP_ID + GITHUB_PRIVATE_KEY), not both',
    );
  if (github.app) appPrivateKey(github.app);
}

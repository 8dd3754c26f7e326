import { z } from 'zod';

/**
 * The `github:` section of the server config. Repositories are allowlisted by having an
 * entry in `repos` keyed by their GitHub full name (`acme/api`); everything else is ignored.
 */
export const GithubConfig = z.strictObject({
  /** Webhook secrets; several are accepted at once so a secret can be rotated (R1). */
  webhookSecrets: z.array(z.string()).default([]),
  /** A token for the REST API (PAT or installation token). Statuses work with any token. */
  token: z.string().optional(),
  apiUrl: z.string().default('https://api.github.com'),
  /** Check runs need a GitHub App installation token; with a plain token only statuses are posted. */
  checkRuns: z.boolean().default(false),
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
  promotionTimeoutSec: z.number().int().positive().default(24 * 3600),
  /** `{ 'acme/api': ['acme/web'] }`: acme/web's tests run on each new master commit of acme/api. */
  downstream: z.record(z.string(), z.array(z.string())).default({}),
  /** Retry budget for rate-limited API calls (429/403 with Retry-After), in seconds. */
  maxRetryAfterSec: z.number().int().positive().default(60),
});
export type GithubConfig = z.infer<typeof GithubConfig>;

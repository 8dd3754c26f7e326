import type { Deploy } from '../src/domain/deploy.js';
import { UserError } from '../src/errors.js';
import type { CommandContext } from './command.js';

/** What an environment runs and whether it can deploy, as `envs` shows it. */
export interface EnvironmentView {
  name: string;
  repo: string;
  /** The last deploy that succeeded there (what runs now). */
  current?: Deploy;
  /** A deploy waiting for approval, queued or running there. */
  pending?: Deploy[];
  lock?: { by: { id: string; name: string }; reason: string; at: string };
  approvers?: string;
  autoDeployBranch?: string;
}

/**
 * The narrow view of deploys that commands use; implemented in `src/deploys`. Errors are
 * UserErrors whose message says why nothing was deployed. Each returns the reply text.
 */
export interface DeployService {
  deploy(input: { repo: string; selector?: string; environment: string }, ctx: CommandContext): Promise<{ text: string; deploy: Deploy }>;
  rollback(input: { repo: string; environment: string }, ctx: CommandContext): Promise<{ text: string; deploy: Deploy }>;
  environments(repo: string): Promise<EnvironmentView[]>;
  lock(environment: string, reason: string, ctx: CommandContext): Promise<string>;
  unlock(environment: string, ctx: CommandContext): Promise<string>;
}

/** `available` of the deploy commands: only a server with environments offers them. */
export function hasDeploys(ctx: CommandContext): boolean {
  return ctx.deploys !== undefined;
}

export function requireDeploys(ctx: CommandContext): DeployService {
  if (!ctx.deploys) throw new UserError('not_found', 'this Bosun has no environments configured (environments: in the server config)');
  return ctx.deploys;
}

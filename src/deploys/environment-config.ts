import { z } from 'zod';

const environmentName = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

/**
 * A Docker Swarm service Bosun updates to the deployed digest (`docker service update`
 * semantics): one task at a time, `start-first` (the new task is healthy before the old one
 * stops) or `stop-first`, Swarm's own rollback when the new task fails or is unhealthy.
 */
export const SwarmServiceTarget = z.strictObject({
  /** Name (or id) of an existing service; Bosun never creates or removes it. */
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'expected a Swarm service name'),
  updateOrder: z.enum(['start-first', 'stop-first']).default('start-first'),
  /** Swarm watches each new task this long for a failure (`UpdateConfig.Monitor`). */
  monitorSec: z.number().int().positive().max(600).default(5),
  /** The whole update (and a rollback it triggers) must settle within this; then the deploy fails. */
  healthTimeoutSec: z.number().int().positive().max(3600).default(120),
});
export type SwarmServiceTarget = z.infer<typeof SwarmServiceTarget>;

/**
 * A deploy step: Bosun runs `commands` in `image` through the executor, with the
 * environment's `secrets` (as files, like any step) and `BOSUN_DEPLOY_*` variables naming what
 * to deploy. Exit 0 = succeeded.
 */
export const RunTarget = z.strictObject({
  image: z.string().min(1),
  commands: z.array(z.string().min(1)).min(1),
  /** Server secrets (`secrets:`) the deploy step gets; each must have a value. */
  secrets: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'expected a secret name')).default([]),
  timeoutSec: z
    .number()
    .int()
    .positive()
    .max(24 * 3600)
    .default(900),
});
export type RunTarget = z.infer<typeof RunTarget>;

export const DeployTargetConfig = z.union([z.strictObject({ swarmService: SwarmServiceTarget }), z.strictObject({ run: RunTarget })], {
  error: 'expected { swarmService: { name, … } } or { run: { image, commands, … } }',
});
export type DeployTargetConfig = z.infer<typeof DeployTargetConfig>;

/**
 * One environment (`staging`, `production`): which repository deploys there, from which
 * branch automatically, who approves, what must be green first, and the target.
 */
export const EnvironmentConfig = z.strictObject({
  /** The repository (key of `repos`) whose published images deploy here. */
  repo: z.string().min(1),
  /** Which published image of that repo (its `image`, registry included); needed only when a build publishes several. */
  image: z.string().min(1).optional(),
  /** A push build on this branch that published an image deploys it here when the build succeeds. */
  autoDeploy: z.strictObject({ branch: z.string().min(1) }).optional(),
  /** Group (from `groups`) whose approval every deploy here needs; N of M comes from `approvals.<group>` (default 1). Never the requester. */
  approvers: z.string().min(1).optional(),
  /** Stages that must be green in the build being deployed (also what `promote` requires for the production branch). */
  requires: z.array(z.string().min(1)).default([]),
  target: DeployTargetConfig,
});
export type EnvironmentConfig = z.infer<typeof EnvironmentConfig>;

export const Environments = z.record(z.string(), EnvironmentConfig);
export type Environments = z.infer<typeof Environments>;

/** Cross-checks against the rest of the server config; each problem as [path, message]. */
export function environmentProblems(c: {
  environments: Environments;
  repos: Record<string, unknown>;
  groups: Record<string, unknown>;
  secrets: Record<string, string>;
}): [(string | number)[], string][] {
  const out: [(string | number)[], string][] = [];
  const services = new Map<string, string>();
  for (const [env, e] of Object.entries(c.environments)) {
    if (!environmentName.test(env)) out.push([['environments', env], 'expected a lowercase name (letters, digits, `-`, `_`, `.`; chat commands name it)']);
    if (!Object.hasOwn(c.repos, e.repo) && e.repo !== 'demo') out.push([['environments', env, 'repo'], `"${e.repo}" is not a configured repository (repos:)`]);
    if (e.approvers && !Object.hasOwn(c.groups, e.approvers)) out.push([['environments', env, 'approvers'], `"${e.approvers}" is not a group in groups:`]);
    if ('run' in e.target) {
      for (const s of e.target.run.secrets) {
        if (!Object.hasOwn(c.secrets, s))
          out.push([['environments', env, 'target', 'run', 'secrets'], `${s} has no value (set BOSUN_SECRET_${s} or secrets.${s})`]);
      }
    } else {
      const other = services.get(e.target.swarmService.name);
      if (other)
        out.push([
          ['environments', env, 'target', 'swarmService', 'name'],
          `service "${e.target.swarmService.name}" is already the target of environment ${other}`,
        ]);
      services.set(e.target.swarmService.name, env);
    }
  }
  return out;
}

import { z } from 'zod';

const SecretName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'expected a secret name (letters, digits, `_`)');

/**
 * One secret server config grants a repository (`repos.<repo>.secrets[]`): a name (its build
 * steps may ask for it; trusted builds only), or a name scoped to deploy environments
 * (`{ name: PROD_DB_PASSWORD, environments: [production] }`): then no build step ever gets it,
 * not even a trusted one on master; only the deploy step (`target.run`) of those environments
 * of this repository does (docs/secrets.md, "Secrets for one environment").
 */
export const RepoSecretGrant = z.union(
  [
    SecretName,
    z.strictObject({
      name: SecretName,
      /** Deploy environments (keys of `environments`) whose `run:` deploy step gets it; never a build step. */
      environments: z.array(z.string().min(1)).min(1, 'expected at least one environment (or grant the bare name to build steps)'),
    }),
  ],
  { error: 'expected a secret name, or `{ name: NAME, environments: [production] }`' },
);
export type RepoSecretGrant = z.infer<typeof RepoSecretGrant>;

export function grantName(grant: RepoSecretGrant): string {
  return typeof grant === 'string' ? grant : grant.name;
}

/** Names the repository's build steps may ask for (granted without an environment scope). */
export function stepGrants(grants: readonly RepoSecretGrant[] | undefined): string[] {
  return (grants ?? []).filter((g): g is string => typeof g === 'string');
}

/** Names scoped to environments, with those environments (a name granted both ways counts as unscoped). */
export function scopedGrants(grants: readonly RepoSecretGrant[] | undefined): Map<string, string[]> {
  const open = new Set(stepGrants(grants));
  const scoped = new Map<string, string[]>();
  for (const g of grants ?? []) {
    if (typeof g === 'string' || open.has(g.name)) continue;
    scoped.set(g.name, [...new Set([...(scoped.get(g.name) ?? []), ...g.environments])]);
  }
  return scoped;
}

/** `withheld: scoped to environment production`: why a build step does not get a scoped secret. */
export function scopeReason(environments: readonly string[]): string {
  return `scoped to environment${environments.length > 1 ? 's' : ''} ${environments.join(', ')} (only ${environments.length > 1 ? 'their' : 'its'} deploy step gets it, never a build step)`;
}

/**
 * The secrets the deploy step of `environment` gets: its target's own `secrets`, and the
 * secrets its repository grants scoped to this environment.
 */
export function deployStepSecrets(targetSecrets: readonly string[], repoGrants: readonly RepoSecretGrant[] | undefined, environment: string): string[] {
  const scoped = [...scopedGrants(repoGrants)].filter(([, envs]) => envs.includes(environment)).map(([name]) => name);
  return [...new Set([...targetSecrets, ...scoped])];
}

/**
 * Cross-checks of scoped grants against the rest of server config, as [path, message]: each
 * environment named exists and deploys this repository with a `run:` step (otherwise the secret
 * would go nowhere), and no environment's `run:` step lists a secret its repository scoped to
 * other environments.
 */
export function secretScopeProblems(c: {
  repos: Record<string, { secrets: readonly RepoSecretGrant[] }>;
  environments: Record<string, { repo: string; target: { run?: { secrets: readonly string[] } } | object }>;
}): [(string | number)[], string][] {
  const out: [(string | number)[], string][] = [];
  for (const [repo, settings] of Object.entries(c.repos)) {
    settings.secrets.forEach((g, i) => {
      if (typeof g === 'string') return;
      for (const env of g.environments) {
        const e = c.environments[env];
        if (!e) out.push([['repos', repo, 'secrets', i, 'environments'], `"${env}" is not an environment (environments:)`]);
        else if (e.repo !== repo) out.push([['repos', repo, 'secrets', i, 'environments'], `environment ${env} deploys ${e.repo}, not ${repo}`]);
        else if (!('run' in e.target)) out.push([['repos', repo, 'secrets', i, 'environments'], `environment ${env} has no run: deploy step to get ${g.name}`]);
      }
    });
  }
  for (const [env, e] of Object.entries(c.environments)) {
    if (!('run' in e.target) || !e.target.run) continue;
    const scoped = scopedGrants(c.repos[e.repo]?.secrets);
    for (const name of e.target.run.secrets) {
      const envs = scoped.get(name);
      if (envs && !envs.includes(env))
        out.push([['environments', env, 'target', 'run', 'secrets'], `${name} is scoped to ${envs.join(', ')} by repos.${e.repo}.secrets, not to ${env}`]);
    }
  }
  return out;
}

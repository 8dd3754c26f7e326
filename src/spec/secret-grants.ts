import type { Problem } from './describe-issues.js';

/** What server config grants the repository whose spec is checked. */
export interface SecretGrants {
  /** Secret names server config grants (`repos.<repo>.secrets`). */
  granted: readonly string[];
  /** Names server config grants the repository only for deploy environments (name → environments): never a build step's. */
  scoped?: Readonly<Record<string, readonly string[]>>;
  /** The repository's key in server config, named in the message. */
  repo?: string;
}

/**
 * Every secret the spec asks for that server config does not grant to the repository (R8: the
 * repository's YAML cannot grant itself a secret). One problem per mention, pointing at it.
 * Works on the loaded YAML before or after schema validation (so these are listed beside any
 * schema error); whatever is not shaped like a secret request is the schema's to report.
 */
export function ungrantedSecrets(data: unknown, grants: SecretGrants): Problem[] {
  const granted = new Set(grants.granted);
  const where = grants.repo ? `repos.${grants.repo}.secrets` : "the repository's `secrets`";
  const problems: Problem[] = [];
  const check = (requests: unknown, at: PropertyKey[]): void => {
    if (!Array.isArray(requests)) return;
    requests.forEach((request: unknown, i) => {
      const named = isObject(request) && typeof request.name === 'string';
      const name = typeof request === 'string' ? request : named ? (request as { name: string }).name : undefined;
      if (name === undefined || granted.has(name)) return;
      const environments = grants.scoped && Object.hasOwn(grants.scoped, name) ? grants.scoped[name] : undefined;
      problems.push({
        path: named ? [...at, i, 'name'] : [...at, i],
        target: 'value',
        message: environments
          ? `secret \`${name}\` is scoped to environment${environments.length > 1 ? 's' : ''} ${environments.join(', ')} (server config ${where}): only ${environments.length > 1 ? 'their' : 'its'} deploy step gets it, never a build step`
          : `secret \`${name}\` is not granted to this repository (server config ${where} does not list it)`,
      });
    });
  };
  const stages = isObject(data) ? data.stages : undefined;
  if (!isObject(stages)) return problems;
  for (const [stageName, stage] of Object.entries(stages)) {
    if (!isObject(stage)) continue;
    check(stage.secrets, ['stages', stageName, 'secrets']);
    if (Array.isArray(stage.steps))
      stage.steps.forEach((step: unknown, i) => isObject(step) && check(step.secrets, ['stages', stageName, 'steps', i, 'secrets']));
  }
  return problems;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

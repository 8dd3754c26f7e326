import type { BuildSpec, SecretRequest } from '../../spec-schema/build-spec.js';
import type { Problem } from './describe-issues.js';

/** What server config grants the repository whose spec is checked. */
export interface SecretGrants {
  /** Secret names server config grants (`repos.<repo>.secrets`). */
  granted: readonly string[];
  /** The repository's key in server config, named in the message. */
  repo?: string;
}

/**
 * Every secret the spec asks for that server config does not grant to the repository (R8: the
 * repository's YAML cannot grant itself a secret). One problem per mention, pointing at it.
 */
export function ungrantedSecrets(spec: BuildSpec, grants: SecretGrants): Problem[] {
  const granted = new Set(grants.granted);
  const where = grants.repo ? `repos.${grants.repo}.secrets` : 'the repository\'s `secrets`';
  const problems: Problem[] = [];
  const check = (requests: readonly SecretRequest[] | undefined, at: PropertyKey[]): void => {
    (requests ?? []).forEach((request, i) => {
      const name = typeof request === 'string' ? request : request.name;
      if (granted.has(name)) return;
      const path = typeof request === 'string' ? [...at, i] : [...at, i, 'name'];
      problems.push({ path, target: 'value', message: `secret \`${name}\` is not granted to this repository (server config ${where} does not list it)` });
    });
  };
  for (const [stageName, stage] of Object.entries(spec.stages)) {
    check(stage.secrets, ['stages', stageName, 'secrets']);
    (stage.steps ?? []).forEach((step, i) => check(step.secrets, ['stages', stageName, 'steps', i, 'secrets']));
  }
  return problems;
}

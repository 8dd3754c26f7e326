import { LineCounter, parseDocument } from 'yaml';
import type { Problem } from './describe-issues.js';
import { locate } from './locate-node.js';
import { formatPath, type SpecError } from './spec-error.js';

/** What server config says about environments, as the spec of one repository is checked against it. */
export interface DeployGrants {
  /** The repository's key in server config. */
  repo: string;
  /** Server config's environments (`environments:`), the fields the check reads. */
  environments: Readonly<Record<string, { repo: string; approvers?: string | undefined; image?: string | undefined }>>;
}

/**
 * Every deploy stage (`deploy: <environment>`) whose environment this repository's builds
 * cannot deploy by themselves, pointing at its `deploy:` (R8: the YAML names an environment;
 * server config decides whether it may): an environment server config does not have, one that
 * deploys another repository, one that needs approval (those deploy through `/ci promote` or
 * the `deploy` command, never a build by itself), one whose image (`environments.<env>.image`)
 * no stage publishes. Works on the loaded YAML like `ungrantedSecrets`.
 */
export function deployProblems(data: unknown, grants: DeployGrants): Problem[] {
  const stages = isObject(data) ? data.stages : undefined;
  if (!isObject(stages)) return [];
  const problems: Problem[] = [];
  const published = new Set<string>();
  for (const stage of Object.values(stages)) {
    if (!isObject(stage) || !Array.isArray(stage.publish)) continue;
    for (const p of stage.publish as unknown[]) {
      if (isObject(p) && isObject(p.docker) && typeof p.docker.image === 'string') published.add(p.docker.image);
    }
  }
  const mine = Object.entries(grants.environments)
    .filter(([, e]) => e.repo === grants.repo)
    .map(([n]) => n)
    .sort();
  for (const [stageName, stage] of Object.entries(stages)) {
    if (!isObject(stage) || typeof stage.deploy !== 'string') continue;
    const name = stage.deploy;
    const env = Object.hasOwn(grants.environments, name) ? grants.environments[name] : undefined;
    const at = ['stages', stageName, 'deploy'];
    let message: string | undefined;
    if (!env) {
      message = `environment \`${name}\` is not in server config (environments of ${grants.repo}: ${mine.join(', ') || 'none'})`;
    } else if (env.repo !== grants.repo) {
      message = `environment \`${name}\` deploys ${env.repo}, not ${grants.repo} (server config environments.${name}.repo)`;
    } else if (env.approvers) {
      message = `environment \`${name}\` needs approval from \`${env.approvers}\`, so a build never deploys there by itself: ship it with \`/ci promote\` or \`/ci deploy ${grants.repo} to ${name}\``;
    } else if (env.image && !published.has(env.image)) {
      message = `environment \`${name}\` deploys the image ${env.image} (server config environments.${name}.image), which no stage of this spec publishes`;
    }
    if (message) problems.push({ path: at, target: 'value', message });
  }
  return problems;
}

/**
 * For an untrusted build (a fork or outside author, or one approved with ok-to-test), which
 * never deploys: one error per deploy stage the build would run, at its `deploy:`.
 */
export function untrustedDeployErrors(text: string | Uint8Array, file: string, stages: readonly string[]): SpecError[] {
  const lineCounter = new LineCounter();
  const source = typeof text === 'string' ? text : new TextDecoder().decode(text);
  const doc = parseDocument(source, { lineCounter, uniqueKeys: false });
  return stages.map((stage) => {
    const path = ['stages', stage, 'deploy'];
    return {
      file,
      ...locate(doc, lineCounter, path, 'value'),
      path: formatPath(path),
      message: `this build is untrusted (a fork or outside author, or approved with ok-to-test) and never deploys: stage \`${stage}\` cannot run; limit it with \`on: { branches: [master] }\``,
    };
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

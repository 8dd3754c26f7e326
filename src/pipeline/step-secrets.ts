import type { Build } from '../domain/build.js';
import type { PlanStep } from '../domain/plan.js';
import type { StepSecret } from '../executor/executor.js';
import type { AuditLog } from '../storage/audit-log.js';
import type { ServerConfig } from '../config.js';
import { scopeReason, scopedGrants, stepGrants } from './repo-secret-grants.js';

/** Why a secret a step asked for was not delivered. */
export interface Withheld {
  name: string;
  reason: string;
}

export interface SecretDelivery {
  /** What the executor delivers (values included: never log or persist this). */
  secrets: StepSecret[];
  withheld: Withheld[];
}

export const untrustedReason = 'untrusted build (fork or outsider pull request, or approved with ok-to-test)';
export const pullRefReason = "a pull request ref built by hand (pull/N/… can be a fork's code; use /ci ok-to-test on the pull request)";

/** `pull/7/head`, `pull/7/merge`: GitHub's refs for a pull request's code, a fork's included. */
const pullRequestRef = /^pull\/\d+\//;

/**
 * Which of the secrets a step asks for it gets (R14), decided at run time:
 * - an untrusted build (`trigger.untrusted`: a fork or outsider pull request, including one a
 *   trusted user approved with `/ci ok-to-test`, and retries of those) gets none: the step runs
 *   without them, as GitHub Actions runs fork PRs with empty secrets;
 * - nor does a build of a pull request ref (`pull/N/head`) someone asked for by hand: that can
 *   be a fork's code, which only `/ci ok-to-test` may run, and then without secrets;
 * - a secret the repository is granted only for deploy environments (`{ name, environments }`)
 *   is withheld from every build step, trusted or not ("scoped to environment production");
 * - a trusted build gets each secret server config grants the repository and has a value for
 *   (the spec was checked against the grants when the build started; config may have changed
 *   since, so they are checked again). Values come from `values`, the same map the redactor
 *   masks in every sink (R13), so a delivered secret is always redacted.
 */
export function stepSecrets(config: Pick<ServerConfig, 'repos'>, values: Record<string, string>, build: Build, plan: PlanStep): SecretDelivery {
  const requested = plan.secrets ?? [];
  if (requested.length === 0) return { secrets: [], withheld: [] };
  if (build.trigger.untrusted) return { secrets: [], withheld: requested.map((s) => ({ name: s.name, reason: untrustedReason })) };
  if (pullRequestRef.test(build.ref)) return { secrets: [], withheld: requested.map((s) => ({ name: s.name, reason: pullRefReason })) };
  const grants = config.repos[build.repo]?.secrets;
  const granted = new Set(stepGrants(grants));
  const scoped = scopedGrants(grants);
  const delivery: SecretDelivery = { secrets: [], withheld: [] };
  for (const request of requested) {
    const value = Object.hasOwn(values, request.name) ? values[request.name] : undefined;
    const environments = scoped.get(request.name);
    if (environments) delivery.withheld.push({ name: request.name, reason: scopeReason(environments) });
    else if (!granted.has(request.name)) delivery.withheld.push({ name: request.name, reason: `not granted to ${build.repo} by server config` });
    else if (value === undefined) delivery.withheld.push({ name: request.name, reason: 'no value in server config' });
    else delivery.secrets.push({ name: request.name, value, env: [...request.env] });
  }
  return delivery;
}

/** The step log's account of its secrets: names and variables, never values. */
export function deliveryNotes(delivery: SecretDelivery): string[] {
  const notes = delivery.withheld.map((w) => `bosun: secret ${w.name} withheld: ${w.reason}`);
  if (delivery.secrets.length > 0) {
    const described = delivery.secrets.map((s) => (s.env.length ? `${s.name} (also as ${s.env.map((e) => `$${e}`).join(', ')})` : s.name));
    notes.push(`bosun: secrets delivered as files in $BOSUN_SECRETS_DIR: ${described.join(', ')}`);
  }
  return notes;
}

/** One audit entry per delivery and one per refusal: build, stage, step, secret names (R10, R14). */
export async function auditDelivery(audit: Pick<AuditLog, 'record'>, build: Build, stage: string, step: string, delivery: SecretDelivery): Promise<void> {
  const base = { actorId: build.trigger.actor.id, source: build.trigger.source, buildId: build.id, sha: build.sha, stage, step };
  if (delivery.secrets.length > 0) {
    await audit.record({ ...base, action: 'secret.deliver', outcome: 'ok', secrets: delivery.secrets.map((s) => s.name).join(',') });
  }
  if (delivery.withheld.length > 0) {
    await audit.record({
      ...base,
      action: 'secret.withhold',
      outcome: 'denied',
      secrets: delivery.withheld.map((w) => w.name).join(','),
      detail: [...new Set(delivery.withheld.map((w) => w.reason))].join('; '),
    });
  }
}

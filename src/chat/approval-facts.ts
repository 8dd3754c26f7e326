import type { Build, StageRun } from '../domain/build.js';
import type { Deploy } from '../domain/deploy.js';
import type { CommitRange } from '../git/commit-range.js';

/**
 * What an approval card shows beyond the checkpoint itself: the environment (deploy
 * approvals), the commits since what runs there now (or since the branch's previous
 * successful build), and the stages that gate the decision, with their results.
 */
export interface ApprovalFacts {
  /** The environment a deploy approval deploys to. */
  environment?: string;
  /** The environment has approvers (production-like): the buttons ask for confirmation. */
  productionLike: boolean;
  /** What the range starts from, for people: `what runs in production (deploy #3)`, `build #6`. */
  since?: string;
  range?: CommitRange;
  /** The stages whose results the decision rests on (finished or waiting), in plan order. */
  gates: StageRun[];
  /** The build those stages belong to (the deployed build, for a deploy approval). */
  gatesOf?: string;
}

/** Narrow reads the gathering needs; each adapter is the real store in production. */
export interface ApprovalFactsDeps {
  builds: { get(id: string): Promise<Build | null>; list(opts: { repo?: string; limit?: number }): Promise<Build[]> };
  /** The deploy records (absent when the server has no environments). */
  deploys?: {
    deployForApproval(buildId: string): Promise<string | null>;
    get(id: string): Promise<Deploy | null>;
    history(by: { environment: string }, limit?: number): Promise<Deploy[]>;
  };
  /** Whether an environment has approvers. */
  hasApprovers(environment: string): boolean;
  range(repo: string, base: string, head: string): Promise<CommitRange | undefined>;
  /** Promotions (`promote`), when GitHub is configured: what they promote to and what runs there now. */
  promotion?: {
    /** The environment a promotion ships to, for people (`production`). */
    environment(repo: string): string;
    /** The commit the production branch points at now; null when it does not exist yet. */
    productionSha(repo: string): Promise<string | null>;
  };
}

/** How many of the repository's newest builds are searched for the branch's previous success. */
const previousBuildWindow = 100;

/**
 * Gathers the facts for the card of `build`'s checkpoint at `stage`. Best effort: a fact that
 * cannot be read is left out, never an error (the card must still be posted).
 */
export async function approvalFacts(build: Build, stage: string, deps: ApprovalFactsDeps): Promise<ApprovalFacts> {
  const deployId = build.specPath === '(deploy)' ? await deployOf(build.id, deps) : null;
  const deploy = deployId ? await deps.deploys?.get(deployId).catch(() => null) : null;
  if (deploy) {
    const history = await deps.deploys!.history({ environment: deploy.environment }, 100).catch(() => []);
    const current = history.find((d) => d.state === 'succeeded' && d.id !== deploy.id);
    const deployed = await deps.builds.get(deploy.buildId).catch(() => null);
    const range = current ? await deps.range(deploy.repo, current.sha, deploy.sha) : undefined;
    return {
      environment: deploy.environment,
      productionLike: deps.hasApprovers(deploy.environment),
      ...(current ? { since: `what runs in ${deploy.environment} (deploy #${current.id})` } : { since: `nothing deployed in ${deploy.environment} yet` }),
      ...(range ? { range } : {}),
      gates: deployed ? deployed.stages.filter(shown) : [],
      ...(deployed ? { gatesOf: deployed.id } : {}),
    };
  }
  if (build.trigger.event === 'promotion' && deps.promotion) return promotionFacts(build, deps, deps.promotion);
  const previous = (await deps.builds.list({ repo: build.repo, limit: previousBuildWindow }).catch(() => [])).find(
    (b) => b.id !== build.id && b.ref === build.ref && b.status === 'success' && b.sha !== build.sha && b.createdAt < build.createdAt,
  );
  const range = previous ? await deps.range(build.repo, previous.sha, build.sha) : undefined;
  return {
    productionLike: false,
    ...(previous ? { since: `build #${previous.id}, the previous successful build of ${build.ref}` } : {}),
    ...(range ? { range } : {}),
    gates: gatingStages(build, stage),
    gatesOf: build.id,
  };
}

/**
 * A promotion (`promote`): production-like always; the commits since what the production
 * branch holds now, and the stages of the green build of the same commit that it promotes.
 */
async function promotionFacts(build: Build, deps: ApprovalFactsDeps, promotion: NonNullable<ApprovalFactsDeps['promotion']>): Promise<ApprovalFacts> {
  const environment = promotion.environment(build.repo);
  const [production, builds] = await Promise.all([
    promotion.productionSha(build.repo).catch(() => undefined),
    deps.builds.list({ repo: build.repo, limit: previousBuildWindow }).catch(() => []),
  ]);
  const promoted = builds.find((b) => b.id !== build.id && b.sha === build.sha && b.trigger.event === 'push' && b.status === 'success');
  const range = production ? await deps.range(build.repo, production, build.sha) : undefined;
  const since = production === null ? `nothing in ${environment} yet` : production ? `what runs in ${environment} (\`${production.slice(0, 7)}\`)` : undefined;
  return {
    environment,
    productionLike: true,
    ...(since ? { since } : {}),
    ...(range ? { range } : {}),
    gates: promoted ? promoted.stages.filter(shown) : [],
    ...(promoted ? { gatesOf: promoted.id } : {}),
  };
}

/** The deploy an approval build decides; the link is written just after the build is made, so wait briefly for it. */
async function deployOf(buildId: string, deps: ApprovalFactsDeps): Promise<string | null> {
  for (let i = 0; i < 20 && deps.deploys; i++) {
    const id = await deps.deploys.deployForApproval(buildId).catch(() => null);
    if (id) return id;
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
}

/** The checkpoint's own stage (its steps ran before it waits) and every stage it needs, transitively, in plan order. */
export function gatingStages(build: Build, stage: string): StageRun[] {
  const byName = new Map(build.stages.map((s) => [s.name, s]));
  const wanted = new Set<string>();
  const visit = (name: string) => {
    if (wanted.has(name)) return;
    wanted.add(name);
    for (const n of byName.get(name)?.needs ?? []) visit(n);
  };
  visit(stage);
  return build.stages.filter((s) => wanted.has(s.name) && shown(s));
}

/** A stage with steps that got somewhere (an approval build's empty stage is not a gate). */
function shown(s: StageRun): boolean {
  return s.steps.length > 0 && s.status !== 'pending' && s.status !== 'queued';
}

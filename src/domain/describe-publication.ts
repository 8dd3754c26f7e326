import type { StageRun } from './build.js';
import type { Publication } from './publication.js';

/**
 * A publication in one line for people (chat, `status`, commit statuses): an image by its
 * digest reference, a Python release by name, version and repository.
 */
export function describePublication(p: Publication): string {
  if (p.kind === 'docker') return p.ref;
  return `${p.package} ${p.version} → ${p.repository}${p.alreadyPublished ? ' (already published)' : ''}`;
}

/** What a stage published (`published` is the build's list) or deployed, or why it could not, one line each. */
export function stagePublishLines(
  stage: Pick<StageRun, 'name' | 'publishError'> & Partial<Pick<StageRun, 'status' | 'deploy' | 'deployId' | 'deployError'>>,
  published: readonly Publication[] | undefined,
): string[] {
  const lines = (published ?? []).filter((p) => p.stage === stage.name).map((p) => `published ${describePublication(p)}`);
  if (stage.publishError) lines.push(`publish failed: ${stage.publishError}`);
  if (stage.deploy && stage.status === 'success') lines.push(`deployed to ${stage.deploy}${stage.deployId ? ` (deploy #${stage.deployId})` : ''}`);
  if (stage.deployError) lines.push(`deploy failed: ${stage.deployError}`);
  return lines;
}

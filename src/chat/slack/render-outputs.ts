import type { Build, StageRun } from '../../domain/build.js';
import { escapeSlack } from '../../domain/escape-chat.js';
import { formatBytes } from '../../artifacts/artifact-store.js';

/** Failing tests listed before the log excerpt (the rest counted). */
export const listedFailingTests = 10;
const listedArtifacts = 5;

/**
 * `Failing tests (2 of 431): • tests.test_auth.test_login — assert 1 == 2 …`, from the stage's
 * JUnit reports (`reports:`); '' when it has none failing.
 */
export function failingTestsText(stage: StageRun | undefined): string {
  const t = stage?.tests;
  if (!t) return '';
  const bad = t.failed + t.errors;
  const problems = t.problems?.length
    ? `\n_Test reports: ${t.problems.length} problem${t.problems.length > 1 ? 's' : ''}: ${escapeSlack(t.problems[0] ?? '')}${t.problems.length > 1 ? ' …' : ''}_`
    : '';
  if (bad === 0) return problems.trim();
  const shown = t.failures
    .slice(0, listedFailingTests)
    .map((f) => `• \`${escapeSlack(f.name)}\`${f.message ? ` — ${escapeSlack(f.message.slice(0, 200))}` : ''}`);
  const more = bad - shown.length;
  return `*Failing tests (${bad} of ${t.total}):*\n${shown.join('\n')}${more > 0 ? `\n…and ${more} more` : ''}${problems}`;
}

/** `Artifacts: dist/app.whl (48.8 KiB), … — bosun artifacts 42 --get <path>`; '' when none. */
export function artifactsText(build: Build): string {
  const files = build.artifacts ?? [];
  if (files.length === 0) return '';
  const shown = files.slice(0, listedArtifacts).map((f) => `\`${escapeSlack(f.path)}\` (${formatBytes(f.size)})`);
  const more = files.length - shown.length;
  return `*Artifacts:* ${shown.join(', ')}${more > 0 ? ` and ${more} more` : ''} — \`bosun artifacts ${build.id} --get <path>\``;
}

import { stepEnding } from '../src/domain/step-ending.js';
import type { Build } from '../src/domain/build.js';
import { shortSha } from '../src/domain/build.js';
import type { RunStatus } from '../src/domain/status.js';
import { stagePublishLines } from '../src/domain/describe-publication.js';
import { describeTests } from '../src/artifacts/junit-report.js';

const icons: Record<RunStatus, string> = {
  pending: '○',
  queued: '◌',
  running: '▶',
  waiting: '⏸',
  success: '✔',
  failed: '✘',
  failed_infra: '⚠',
  cancelled: '■',
  skipped: '–',
};

/** One line: `#42 demo#master (abc1234) ✔ success`. */
export function buildLine(b: Build): string {
  return `#${b.id} ${b.repo}#${b.ref} (${shortSha(b.sha)}) ${icons[b.status]} ${b.status}`;
}

/** A build with its stages and steps, as plain text. */
export function describeBuild(b: Build): string {
  const lines = [`${buildLine(b)} — started by ${b.trigger.actor.name} via ${b.trigger.source}`];
  if (b.error) lines.push(...b.error.message.split('\n').map((line) => `  ${line}`));
  for (const stage of b.stages) {
    lines.push(`  ${icons[stage.status]} ${stage.name}: ${stage.status}`);
    if (stage.notice && stage.status === 'queued') lines.push(`    ⚠ ${stage.notice}`);
    for (const step of stage.steps) {
      const ending = stepEnding(step);
      const where = step.node ? ` on ${step.node.hostname} (${step.node.id.slice(0, 12)})` : '';
      lines.push(`      ${icons[step.status]} ${step.name}: ${step.status}${ending ? ` (${ending})` : ''}${where}`);
    }
    for (const line of stagePublishLines(stage, b.published)) lines.push(`      ⇪ ${line}`);
    if (stage.tests) lines.push(`    test: ${describeTests(stage.tests)}`);
  }
  if (b.artifacts?.length) lines.push(`  artifacts: ${b.artifacts.length} file${b.artifacts.length > 1 ? 's' : ''} (bosun artifacts ${b.id})`);
  return lines.join('\n');
}

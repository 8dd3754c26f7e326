import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { TriggerContext, TriggerEvent } from '../../src/domain/plan.js';
import { compilePlan } from '../../src/spec/compile-plan.js';
import { matchBranch } from '../../src/spec/match-branch.js';
import { parseSpec } from '../../src/spec/parse-spec.js';
import { formatSpecError } from '../../src/spec/spec-error.js';
import type { BuildSpec } from '../../spec-schema/build-spec.js';

const goldenDir = fileURLToPath(new URL('./golden/', import.meta.url));
const update = process.env.UPDATE_GOLDEN === '1';

function spec(text: string): BuildSpec {
  const result = parseSpec(text);
  if (!result.ok) throw new Error(result.errors.map(formatSpecError).join('\n'));
  return result.spec;
}

/** `# contexts: push@master, pull_request@feature/x` on line 1 of a golden spec. */
function contextsOf(text: string): TriggerContext[] {
  const line = /^# contexts: (.*)$/m.exec(text)?.[1];
  assert.ok(line, 'golden spec needs a "# contexts: event@branch, …" line');
  return line.split(',').map((c) => {
    const [event, branch] = c.trim().split('@') as [TriggerEvent, string];
    return { event, branch };
  });
}

describe('compilePlan golden files (test/spec/golden: *.yaml → *.plan.json; UPDATE_GOLDEN=1 rewrites)', () => {
  for (const name of readdirSync(goldenDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()) {
    it(name, () => {
      const text = readFileSync(`${goldenDir}${name}`, 'utf8');
      const plans = Object.fromEntries(contextsOf(text).map((ctx) => [`${ctx.event}@${ctx.branch}`, compilePlan(spec(text), ctx, 'bosun.yml')]));
      const actual = `${JSON.stringify(plans, null, 2)}\n`;
      const goldenPath = `${goldenDir}${name.replace(/\.yaml$/, '.plan.json')}`;

      if (update) writeFileSync(goldenPath, actual);
      assert.ok(existsSync(goldenPath), `${goldenPath} is missing: run with UPDATE_GOLDEN=1 and review it`);

      assert.equal(actual, readFileSync(goldenPath, 'utf8'), `${goldenPath} differs: review, then rerun with UPDATE_GOLDEN=1`);
    });
  }
});

describe('compilePlan', () => {
  const base = 'version: 1\nimage: alpine:3.20\nstages:\n';

  it('is deterministic: the same input gives the same JSON', () => {
    const s = spec(readFileSync(`${goldenDir}three-stage-pipeline.yaml`, 'utf8'));
    const ctx: TriggerContext = { event: 'push', branch: 'master' };

    assert.equal(JSON.stringify(compilePlan(s, ctx, 'bosun.yml')), JSON.stringify(compilePlan(s, ctx, 'bosun.yml')));
  });

  it('uses the caller default step timeout when a step has none', () => {
    const s = spec(`${base}  t:\n    steps: [{ name: a, run: x }, { name: b, run: x, timeout: 5m }]\n`);

    const plan = compilePlan(s, { event: 'push', branch: 'main' }, '.bosun.yml', { timeoutSec: 600 });

    assert.equal(plan.specPath, '.bosun.yml');
    assert.deepEqual(
      plan.stages[0]?.steps.map((st) => st.timeoutSec),
      [600, 300],
    );
  });

  it('gives a checkpoint without a timeout 24 hours', () => {
    const s = spec(`${base}  t:\n    checkpoint: { instructions: look, approvers: qa }\n`);

    const plan = compilePlan(s, { event: 'manual', branch: 'main' }, 'bosun.yml');

    assert.deepEqual(plan.stages[0]?.checkpoint, { instructions: 'look', checklist: [], timeoutSec: 86400, approvers: 'qa' });
    assert.deepEqual(plan.stages[0]?.steps, []);
  });

  it('skips a stage whose needs are skipped transitively, naming the missing stage', () => {
    const s = spec(
      `${base}  a:\n    on: { branches: [master] }\n    steps: [{ name: x, run: x }]\n  b:\n    needs: [a]\n    steps: [{ name: x, run: x }]\n  c:\n    needs: [b]\n    steps: [{ name: x, run: x }]\n`,
    );

    const plan = compilePlan(s, { event: 'push', branch: 'dev' }, 'bosun.yml');

    assert.deepEqual(plan.stages, []);
    assert.deepEqual(plan.skipped, [
      { name: 'a', reason: 'on.branches [master] does not match dev' },
      { name: 'b', reason: 'needs `a`, which does not run for this trigger' },
      { name: 'c', reason: 'needs `b`, which does not run for this trigger' },
    ]);
  });
});

describe('matchBranch', () => {
  const cases: [pattern: string, branch: string, matches: boolean][] = [
    ['master', 'master', true],
    ['master', 'master2', false],
    ['feature/*', 'feature/login', true],
    ['feature/*', 'feature/a/b', false],
    ['feature/*', 'feature/', true],
    ['release/**', 'release/1.2/hotfix', true],
    ['*', 'main', true],
    ['*', 'feature/x', false],
    ['**', 'feature/x', true],
    ['v1.2', 'v1x2', false],
    ['fix-(1)', 'fix-(1)', true],
  ];
  for (const [pattern, branch, matches] of cases) {
    it(`${pattern} ${matches ? 'matches' : 'does not match'} ${branch}`, () => {
      assert.equal(matchBranch(pattern, branch), matches);
    });
  }
});

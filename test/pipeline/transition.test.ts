import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Build, StageRun, StepRun } from '../../src/domain/build.js';
import type { BuildEvent } from '../../src/domain/build-event.js';
import type { RunStatus } from '../../src/domain/status.js';
import { InvalidTransitionError } from '../../src/errors.js';
import { setBuildStatus, setStageStatus, setStepStatus } from '../../src/pipeline/transition.js';
import { advanceBuild } from '../../src/pipeline/advance-build.js';
import type { PipelineDeps } from '../../src/pipeline/pipeline-deps.js';

const now = '2026-01-01T00:00:00.000Z';

function stepRun(name: string, status: RunStatus): StepRun {
  return { name, status, image: 'x', runs: 0, plan: { name, image: 'x', commands: ['true'], env: {}, timeoutSec: 60, workdir: '.' } };
}

function stageRun(name: string, status: RunStatus, needs: string[], steps: StepRun[]): StageRun {
  return { name, status, needs, labels: [], resources: [], steps };
}

function buildWith(status: RunStatus, stages: StageRun[]): Build {
  return {
    id: '1',
    repo: 'demo',
    ref: 'master',
    sha: 'a'.repeat(40),
    status,
    createdAt: now,
    attempt: 1,
    version: 0,
    stages,
    trigger: { event: 'manual', source: 'cli', actor: { id: 'cli:u', name: 'u' } },
  };
}

type Level = 'build' | 'stage' | 'step';
function change(level: Level, from: RunStatus, to: RunStatus): { build: Build; subject: () => RunStatus; run: () => BuildEvent[] } {
  const step = stepRun('s', level === 'step' ? from : 'pending');
  const stage = stageRun('st', level === 'stage' ? from : 'running', [], [step]);
  const build = buildWith(level === 'build' ? from : 'running', [stage]);
  const subject = () => (level === 'build' ? build.status : level === 'stage' ? stage.status : step.status);
  const run = () =>
    level === 'build' ? setBuildStatus(build, to, now) : level === 'stage' ? setStageStatus(build, stage, to, now) : setStepStatus(build, stage, step, to, now);
  return { build, subject, run };
}

// Every status change goes through the one table: what it allows happens and is recorded,
// what it does not is refused and leaves the status as it was.
describe('the transitions table decides every status change', () => {
  const cases: Array<[string, Level, RunStatus, RunStatus, 'allowed' | 'refused']> = [
    ['a pending step may be skipped', 'step', 'pending', 'skipped', 'allowed'],
    ['a running step may succeed', 'step', 'running', 'success', 'allowed'],
    ['a succeeded step cannot be skipped', 'step', 'success', 'skipped', 'refused'],
    ['a pending stage may be queued', 'stage', 'pending', 'queued', 'allowed'],
    ['a running stage cannot go back to pending', 'stage', 'running', 'pending', 'refused'],
    ['a succeeded build cannot run again without a retry', 'build', 'success', 'running', 'refused'],
    ['a skipped build cannot fail', 'build', 'skipped', 'failed', 'refused'],
    ['a failed build may be queued again (retry)', 'build', 'failed', 'queued', 'allowed'],
  ];
  for (const [name, level, from, to, verdict] of cases) {
    it(name, () => {
      const c = change(level, from, to);
      if (verdict === 'allowed') {
        const events = c.run();
        assert.equal(c.subject(), to);
        assert.deepEqual(
          events.map((e) => [e.type, 'status' in e ? e.status : undefined, 'previous' in e ? e.previous : undefined]),
          [[`${level}.status`, to, from]],
        );
      } else {
        assert.throws(
          () => c.run(),
          (err) => err instanceof InvalidTransitionError && err.message.includes(`cannot become ${to}`),
        );
        assert.equal(c.subject(), from, 'the status is unchanged');
      }
    });
  }
});

describe('advancing a build skips a stage whose need failed', () => {
  it('its pending steps become skipped through the table: recorded, with an end time', async () => {
    let build = buildWith('running', [
      stageRun('build', 'failed', [], [stepRun('compile', 'failed')]),
      stageRun('deploy', 'pending', ['build'], [stepRun('push', 'pending'), stepRun('notify', 'pending')]),
    ]);
    const recorded: BuildEvent[] = [];
    const store = {
      require: async () => structuredClone(build),
      update: async (_id: string, mutate: (b: Build) => BuildEvent[] | null) => {
        const next = structuredClone(build);
        const events = mutate(next);
        if (events) {
          recorded.push(...events);
          build = next;
        }
        return { build: structuredClone(build), changed: events !== null };
      },
    };
    const queue = { runStage: async () => assert.fail('nothing is queued') };
    const deps = { store, queue, config: { swarm: { placement: {} } } } as unknown as PipelineDeps;
    const done = await advanceBuild(deps, '1');
    assert.equal(done.status, 'failed');
    const deploy = done.stages[1]!;
    assert.equal(deploy.status, 'skipped');
    assert.deepEqual(
      deploy.steps.map((s) => [s.name, s.status, Boolean(s.finishedAt)]),
      [
        ['push', 'skipped', true],
        ['notify', 'skipped', true],
      ],
    );
    const stepEvents = recorded.filter((e) => e.type === 'step.status').map((e) => e.type === 'step.status' && [e.step, e.status, e.previous]);
    assert.deepEqual(stepEvents, [
      ['push', 'skipped', 'pending'],
      ['notify', 'skipped', 'pending'],
    ]);
  });
});

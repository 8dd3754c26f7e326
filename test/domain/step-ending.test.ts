import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stepEnding } from '../../src/domain/step-ending.js';
import { renderStage } from '../../src/chat/slack/render-build.js';
import type { StageRun, StepRun } from '../../src/domain/build.js';

// How a step's end reads to people, in chat and in `/ci status`.
const cases: Array<{ step: Pick<StepRun, 'status' | 'exitCode' | 'reason' | 'detail'>; says: string }> = [
  { step: { status: 'success', exitCode: 0 }, says: '' },
  { step: { status: 'running' }, says: '' },
  { step: { status: 'failed', exitCode: 3 }, says: 'exit 3' },
  { step: { status: 'failed', exitCode: 124, reason: 'timeout' }, says: 'timed out' },
  { step: { status: 'failed', exitCode: 137, reason: 'oom' }, says: 'out of memory' },
  { step: { status: 'failed', exitCode: 137, reason: 'oom', detail: 'limit 512 MiB' }, says: 'out of memory (limit 512 MiB)' },
  { step: { status: 'failed', exitCode: -1, reason: 'start_failed' }, says: 'could not start' },
  {
    step: { status: 'failed_infra', exitCode: -1, reason: 'node_lost', detail: 'node vm (ynxl4hcc3gig) went down while the step ran' },
    says: 'node lost: node vm (ynxl4hcc3gig) went down while the step ran',
  },
  { step: { status: 'failed_infra', exitCode: -1, reason: 'node_lost' }, says: 'node lost' },
  {
    step: { status: 'failed', exitCode: -1, reason: 'service_failed', detail: 'service db was never ready: not ready after 60 s' },
    says: 'did not run: service db was never ready: not ready after 60 s',
  },
  { step: { status: 'failed', exitCode: -1, reason: 'something_new' }, says: 'something_new' },
];

describe('stepEnding', () => {
  for (const c of cases) {
    it(`${JSON.stringify(c.step)} → "${c.says}"`, () => assert.equal(stepEnding(c.step), c.says));
  }

  it('the Slack stage reply says a step ran out of memory, and its limit', () => {
    const step = { name: 'mem', status: 'failed', exitCode: 137, reason: 'oom', detail: 'limit 512 MiB', runs: 1 } as StepRun;
    const stage = { name: 'test', status: 'failed', steps: [step] } as unknown as StageRun;
    assert.match(renderStage(stage).text, /mem \(out of memory \(limit 512 MiB\)\)/);
  });

  it('the Slack stage reply says which node was lost', () => {
    const step = {
      name: 'soak',
      status: 'failed_infra',
      exitCode: -1,
      reason: 'node_lost',
      detail: 'node vm (ynxl4hcc3gig) went down while the step ran',
      runs: 1,
    } as StepRun;
    const stage = { name: 'long', status: 'failed_infra', steps: [step] } as unknown as StageRun;
    assert.match(renderStage(stage).text, /soak \(node lost: node vm \(ynxl4hcc3gig\) went down while the step ran\)/);
  });
});

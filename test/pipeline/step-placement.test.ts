import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { routingLabels, stepPlacement } from '../../src/pipeline/step-placement.js';
import type { SwarmConfig } from '../../src/config.js';
import type { Build } from '../../src/domain/build.js';

const swarm: SwarmConfig = {
  constraints: ['node.labels.pool==ci'],
  placement: { arm64: ['node.platform.arch==aarch64'], gpu: ['node.labels.gpu==true', 'node.labels.pool==ci'] },
  unschedulableAfterSec: 120,
};

function build(labels: string[], steps: Array<{ status: string; node?: string }>): Build {
  return {
    stages: [
      { name: 'test', labels, steps: steps.map((s, i) => ({ name: `s${i}`, status: s.status, ...(s.node ? { node: { id: s.node, hostname: 'h' } } : {}) })) },
    ],
  } as unknown as Build;
}

describe('stepPlacement', () => {
  const cases: Array<{ name: string; labels: string[]; steps: Array<{ status: string; node?: string }>; config?: SwarmConfig; want: unknown }> = [
    { name: 'the server constraints apply to every step', labels: [], steps: [{ status: 'pending' }], want: { constraints: ['node.labels.pool==ci'] } },
    {
      name: 'a placement label adds its constraints, without repeats',
      labels: ['gpu'],
      steps: [{ status: 'pending' }],
      want: { constraints: ['node.labels.pool==ci', 'node.labels.gpu==true'] },
    },
    { name: 'a worker label is not a placement label', labels: ['macos'], steps: [{ status: 'pending' }], want: { constraints: ['node.labels.pool==ci'] } },
    {
      name: "later steps follow the node of the stage's last passed step",
      labels: ['arm64'],
      steps: [{ status: 'success', node: 'n1' }, { status: 'success', node: 'n2' }, { status: 'pending' }],
      want: { constraints: ['node.labels.pool==ci', 'node.platform.arch==aarch64'], node: 'n2' },
    },
    { name: 'a failed step does not pin', labels: [], steps: [{ status: 'failed_infra', node: 'n9' }], want: { constraints: ['node.labels.pool==ci'] } },
    {
      name: 'nothing to say: no placement',
      labels: [],
      steps: [{ status: 'pending' }],
      config: { constraints: [], placement: {}, unschedulableAfterSec: 120 },
      want: undefined,
    },
  ];
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(stepPlacement(c.config ?? swarm, build(c.labels, c.steps), 'test'), c.want));
  }
});

describe('routingLabels', () => {
  it('keeps worker labels and drops placement labels', () => {
    assert.deepEqual(routingLabels(swarm, ['macos', 'arm64', 'gpu']), ['macos']);
    assert.deepEqual(routingLabels(swarm, []), []);
  });
});

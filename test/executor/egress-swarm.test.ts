import { it } from 'node:test';
import { describeEgressPolicy, docker, problem } from './egress-cases.js';

// Egress under a policy (docs/network.md) on the swarm executor, per step and with `sandbox: stage`.

if (docker && problem) {
  it(`egress tests skipped: ${problem}`, (t) => t.skip(problem));
}

describeEgressPolicy(['swarm', 'ssbx']);

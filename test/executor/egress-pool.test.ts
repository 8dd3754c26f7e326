import { it } from 'node:test';
import { describeEgressPolicy, docker, problem } from './egress-cases.js';

// Egress under a policy (docs/network.md) from inside a sandbox claimed from the warm pool
// (docs/pool.md): the entry's network was made with the server's rules before the build existed.

if (docker && problem) {
  it(`egress tests skipped: ${problem}`, (t) => t.skip(problem));
}

describeEgressPolicy(['dpool']);

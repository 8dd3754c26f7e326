import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Build } from '../../src/domain/build.js';
import type { PlanStep } from '../../src/domain/plan.js';
import { deliveryNotes, pullRefReason, stepSecrets, untrustedReason } from '../../src/pipeline/step-secrets.js';

const values = { PYPI_TOKEN: 'pypi-value-123', SIGNING_KEY: 'signing-value-123', OTHER: 'other-value-123' };
const config = { repos: { 'acme/api': { url: 'x', defaultBranch: 'master', secrets: ['PYPI_TOKEN', 'SIGNING_KEY', 'NO_VALUE'] } } };
const plan: PlanStep = {
  name: 'upload',
  image: 'x',
  commands: ['true'],
  env: {},
  timeoutSec: 60,
  workdir: '.',
  secrets: [
    { name: 'PYPI_TOKEN', env: ['TWINE_PASSWORD'] },
    { name: 'SIGNING_KEY', env: [] },
    { name: 'OTHER', env: [] },
    { name: 'NO_VALUE', env: [] },
  ],
};
const build = (over: Partial<Build['trigger']> = {}, ref = 'master'): Build => ({
  id: '1',
  repo: 'acme/api',
  ref,
  sha: 'a'.repeat(40),
  status: 'running',
  stages: [],
  createdAt: '',
  attempt: 1,
  version: 1,
  trigger: { event: 'push', source: 'github', actor: { id: 'github:1', name: 'dev' }, ...over },
});

const cases: { name: string; build: Build; delivered: string[]; withheld: [string, string][] }[] = [
  {
    name: 'a trusted push gets what the repository is granted and has a value for; the rest is withheld with the reason',
    build: build(),
    delivered: ['PYPI_TOKEN', 'SIGNING_KEY'],
    withheld: [
      ['OTHER', 'not granted to acme/api by server config'],
      ['NO_VALUE', 'no value in server config'],
    ],
  },
  {
    name: 'a fork or outsider pull request (ok-to-test included) gets none',
    build: build({ event: 'pull_request', pullRequest: 7, untrusted: true }),
    delivered: [],
    withheld: plan.secrets!.map((s) => [s.name, untrustedReason]),
  },
  {
    name: "a pull request ref built by hand gets none (it can be a fork's code)",
    build: build({ event: 'manual', source: 'slack' }, 'pull/7/head'),
    delivered: [],
    withheld: plan.secrets!.map((s) => [s.name, pullRefReason]),
  },
];

for (const c of cases) {
  test(c.name, () => {
    const delivery = stepSecrets(config, values, c.build, plan);

    assert.deepEqual(
      delivery.secrets.map((s) => s.name),
      c.delivered,
    );
    assert.deepEqual(
      delivery.withheld.map((w) => [w.name, w.reason]),
      c.withheld,
    );
    if (c.delivered.length) assert.deepEqual(delivery.secrets[0], { name: 'PYPI_TOKEN', value: 'pypi-value-123', env: ['TWINE_PASSWORD'] });
    assert.ok(!deliveryNotes(delivery).join('\n').includes('value-123'), 'notes never carry values');
  });
}

test('a step that asks for nothing gets nothing and says nothing', () => {
  const delivery = stepSecrets(config, values, build({ untrusted: true }), { ...plan, secrets: undefined } as PlanStep);

  assert.deepEqual(delivery, { secrets: [], withheld: [] });
  assert.deepEqual(deliveryNotes(delivery), []);
});

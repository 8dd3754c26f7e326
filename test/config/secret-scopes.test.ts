import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig, type ServerConfigInput } from '../../src/config.js';
import { deployStepSecrets, scopedGrants, stepGrants } from '../../src/pipeline/repo-secret-grants.js';

// A repository secret scoped to deploy environments (`{ name, environments }` in
// repos.<repo>.secrets): only those environments' `run:` deploy steps get it (docs/secrets.md).

const run = (secrets: string[] = []) => ({ run: { image: 'deployer', commands: ['deploy'], secrets } });
const base = (over: ServerConfigInput): ServerConfigInput => ({
  secrets: { PROD_KEY: 'prod-key-value', CI_TOKEN: 'ci-token-value', STAGE_KEY: 'stage-key-value' },
  ...over,
});
const problem = (over: ServerConfigInput): string => {
  try {
    loadConfig({}, base(over));
  } catch (err) {
    return (err as Error).message;
  }
  return 'no error';
};

test('the plain list of names still works, and a scoped grant sits beside it', () => {
  const config = loadConfig(
    {},
    base({
      repos: { 'acme/api': { url: 'https://example.invalid/api.git', secrets: ['CI_TOKEN', { name: 'PROD_KEY', environments: ['production'] }] } },
      environments: { production: { repo: 'acme/api', target: run(['STAGE_KEY']) }, staging: { repo: 'acme/api', target: run() } },
    }),
  );
  const grants = config.repos['acme/api']!.secrets;
  assert.deepEqual(stepGrants(grants), ['CI_TOKEN']);
  assert.deepEqual([...scopedGrants(grants)], [['PROD_KEY', ['production']]]);
  assert.deepEqual(deployStepSecrets(['STAGE_KEY'], grants, 'production'), ['STAGE_KEY', 'PROD_KEY']);
  assert.deepEqual(deployStepSecrets([], grants, 'staging'), []);
});

test('a name granted plainly as well is a build-step grant (scoping it does not take it away)', () => {
  assert.deepEqual(stepGrants(['PROD_KEY', { name: 'PROD_KEY', environments: ['production'] }]), ['PROD_KEY']);
  assert.equal(scopedGrants(['PROD_KEY', { name: 'PROD_KEY', environments: ['production'] }]).size, 0);
});

const refusals: { name: string; over: ServerConfigInput; message: RegExp }[] = [
  {
    name: 'an unknown environment',
    over: { repos: { a: { url: 'x', secrets: [{ name: 'PROD_KEY', environments: ['prod'] }] } } },
    message: /repos\.a\.secrets\.0\.environments: "prod" is not an environment \(environments:\)/,
  },
  {
    name: 'an environment of another repository',
    over: {
      repos: { a: { url: 'x', secrets: [{ name: 'PROD_KEY', environments: ['production'] }] }, b: { url: 'y' } },
      environments: { production: { repo: 'b', target: run() } },
    },
    message: /repos\.a\.secrets\.0\.environments: environment production deploys b, not a/,
  },
  {
    name: 'an environment without a run: deploy step',
    over: {
      repos: { a: { url: 'x', secrets: [{ name: 'PROD_KEY', environments: ['production'] }] } },
      environments: { production: { repo: 'a', target: { swarmService: { name: 'api' } } } },
    },
    message: /environment production has no run: deploy step to get PROD_KEY/,
  },
  {
    name: "another environment's deploy step listing the scoped secret",
    over: {
      repos: { a: { url: 'x', secrets: [{ name: 'PROD_KEY', environments: ['production'] }] } },
      environments: { production: { repo: 'a', target: run() }, staging: { repo: 'a', target: run(['PROD_KEY']) } },
    },
    message: /environments\.staging\.target\.run\.secrets: PROD_KEY is scoped to production by repos\.a\.secrets, not to staging/,
  },
  {
    name: 'a scoped secret without a value',
    over: {
      repos: { a: { url: 'x', secrets: [{ name: 'NO_VALUE', environments: ['production'] }] } },
      environments: { production: { repo: 'a', target: run() } },
    },
    message: /repos\.a\.secrets: NO_VALUE has no value/,
  },
  {
    name: 'an empty environment list',
    over: { repos: { a: { url: 'x', secrets: [{ name: 'PROD_KEY', environments: [] }] } } },
    message: /repos\.a\.secrets\.0/,
  },
];
for (const r of refusals) {
  test(`Bosun refuses to start on a scoped secret with ${r.name}`, () => {
    assert.match(problem(r.over), r.message);
  });
}

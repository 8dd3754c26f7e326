import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig, type ServerConfigInput } from '../../src/config.js';
import { promotionRequires } from '../../src/github/promotion.js';

const repos = { 'acme/api': { url: 'file:///srv/api.git' } };
const swarm = { swarmService: { name: 'api-staging' } };

for (const [name, input, says] of [
  [
    'an environment of an unknown repository',
    { environments: { staging: { repo: 'acme/nope', target: swarm } } },
    /environments\.staging\.repo: "acme\/nope" is not a configured repository/,
  ],
  [
    'an approver group that does not exist',
    { repos, environments: { production: { repo: 'acme/api', approvers: 'release', target: swarm } } },
    /environments\.production\.approvers: "release" is not a group/,
  ],
  [
    'a target that is neither swarmService nor run',
    { repos, environments: { staging: { repo: 'acme/api', target: { kubernetes: { name: 'x' } } } } },
    /environments\.staging\.target: expected \{ swarmService/,
  ],
  [
    'an update order Swarm does not know',
    { repos, environments: { staging: { repo: 'acme/api', target: { swarmService: { name: 'x', updateOrder: 'sideways' } } } } },
    /environments\.staging\.target/,
  ],
  [
    'a deploy step secret with no value',
    { repos, environments: { staging: { repo: 'acme/api', target: { run: { image: 'deployer', commands: ['./deploy'], secrets: ['KUBE_TOKEN'] } } } } },
    /environments\.staging\.target\.run\.secrets: KUBE_TOKEN has no value/,
  ],
  [
    'one service the target of two environments',
    { repos, environments: { a: { repo: 'acme/api', target: swarm }, b: { repo: 'acme/api', target: swarm } } },
    /environments\.b\.target\.swarmService\.name: service "api-staging" is already the target of environment a/,
  ],
  [
    'an environment name with capitals',
    { repos, environments: { Staging: { repo: 'acme/api', target: swarm } } },
    /environments\.Staging: expected a lowercase name/,
  ],
  ['an unknown key', { repos, environments: { staging: { repo: 'acme/api', target: swarm, autodeploy: { branch: 'master' } } } }, /environments\.staging/],
] as [string, ServerConfigInput, RegExp][]) {
  test(`server config refuses ${name}`, () => {
    assert.throws(
      () => loadConfig({}, { dataDir: '/tmp/bosun-cfg-test', ...input }),
      (err: Error) => (assert.match(err.message, says), true),
    );
  });
}

test('server config accepts environments with defaults filled in', () => {
  const c = loadConfig(
    { BOSUN_SECRET_KUBE_TOKEN: 'kube-token-123' },
    {
      dataDir: '/tmp/bosun-cfg-test',
      repos,
      groups: { release: ['slack:T1/U1'] },
      environments: {
        staging: { repo: 'acme/api', autoDeploy: { branch: 'master' }, target: swarm },
        production: {
          repo: 'acme/api',
          approvers: 'release',
          requires: ['e2e', 'smoke'],
          autoDeploy: { branch: 'production' },
          target: { run: { image: 'deployer', commands: ['./deploy'], secrets: ['KUBE_TOKEN'] } },
        },
      },
    },
  );
  assert.deepEqual(c.environments.staging?.target, { swarmService: { name: 'api-staging', updateOrder: 'start-first', monitorSec: 5, healthTimeoutSec: 120 } });
  assert.deepEqual(c.environments.staging?.requires, []);
  assert.deepEqual(
    promotionRequires(c, { productionBranch: 'production' }, 'acme/api'),
    ['e2e', 'smoke'],
    "promotion requires the production environment's stages",
  );
  assert.deepEqual(promotionRequires(c, { productionBranch: 'production' }, 'acme/web'), ['e2e'], 'without a production environment: e2e');
});

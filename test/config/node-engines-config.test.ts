import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { SwarmExecutor } from '../../src/executor/swarm/swarm-executor.js';
import { engineAddressProblem } from '../../src/executor/swarm/node-engine-address.js';
import { NodeEngines } from '../../src/executor/swarm/node-engines.js';
import { silentLogger } from '../../src/logger.js';
import Docker from 'dockerode';

// swarm.nodeEngines (docs/sandbox.md, "On several nodes"): the engines of other nodes a worker
// may exec stage sandboxes on. Only what can be reached safely is accepted.

const registry = { swarm: { registry: 'registry.internal:5000' } };

test('swarm.nodeEngines: absent by default; node hostname or ID → a unix socket or a loopback tcp address, on a multi-node swarm', () => {
  assert.equal(loadConfig({}).swarm.nodeEngines, undefined);
  const engines = { worker2: 'unix:///var/run/worker2.sock', abc123def456: 'tcp://127.0.0.1:23750', w3: 'tcp://[::1]:2375', w4: 'tcp://localhost:2375' };
  assert.deepEqual(loadConfig({}, { swarm: { ...registry.swarm, nodeEngines: engines } } as never).swarm.nodeEngines, engines);
});

const refused: [string, Record<string, unknown>, RegExp][] = [
  [
    'plain tcp to another host',
    { swarm: { ...registry.swarm, nodeEngines: { w2: 'tcp://10.0.0.7:2376' } } },
    /swarm\.nodeEngines\.w2: tcp:\/\/10\.0\.0\.7:2376: plain tcp to another host is refused .*TLS is not supported yet.*use a unix socket/,
  ],
  ['a relative unix socket', { swarm: { ...registry.swarm, nodeEngines: { w2: 'unix://docker.sock' } } }, /swarm\.nodeEngines\.w2: .*absolute path/],
  [
    'an address without a scheme',
    { swarm: { ...registry.swarm, nodeEngines: { w2: '127.0.0.1:2375' } } },
    /swarm\.nodeEngines\.w2: .*expected unix:\/\/\/path\.sock or tcp:\/\//,
  ],
  [
    'a tcp address without a port',
    { swarm: { ...registry.swarm, nodeEngines: { w2: 'tcp://127.0.0.1' } } },
    /swarm\.nodeEngines\.w2: .*expected tcp:\/\/host:port/,
  ],
  ['an ssh address', { swarm: { ...registry.swarm, nodeEngines: { w2: 'ssh://w2' } } }, /swarm\.nodeEngines\.w2/],
  ['engines on one node (no registry)', { swarm: { nodeEngines: { w2: 'unix:///run/w2.sock' } } }, /swarm\.nodeEngines: only for a multi-node swarm/],
];
for (const [name, overrides, message] of refused) {
  test(`swarm.nodeEngines with ${name} is refused, naming the field and why`, () => {
    assert.throws(() => loadConfig({}, overrides as never), message);
  });
}

test('engine addresses: what is accepted', () => {
  const table: [string, boolean][] = [
    ['unix:///var/run/docker.sock', true],
    ['tcp://127.0.0.1:2375', true],
    ['tcp://127.1.2.3:2375', true],
    ['tcp://localhost:2375', true],
    ['tcp://[::1]:2375', true],
    ['tcp://192.168.1.10:2375', false],
    ['tcp://docker.internal:2376', false],
    ['tcp://[fd00::1]:2375', false],
    ['http://127.0.0.1:2375', false],
    ['tcp://127.0.0.1:2375/path', false],
  ];
  for (const [address, ok] of table) assert.equal(engineAddressProblem(address) === undefined, ok, address);
});

test('the swarm executor refuses node engines on one node and a bad address outright', () => {
  const docker = new Docker({ socketPath: '/nonexistent.sock' });
  assert.throws(
    () => new SwarmExecutor({ docker, instanceId: 'ne', log: silentLogger(), nodeEngines: { w2: 'unix:///run/w2.sock' } }),
    /swarm\.nodeEngines is only for a multi-node swarm/,
  );
  assert.throws(() => new NodeEngines({ w2: 'tcp://10.1.1.1:2375' }), /swarm\.nodeEngines\.w2: .*plain tcp to another host is refused/);
});

test('a node engine is used only once it answers as that node; otherwise the reason is given', async () => {
  const engines = new NodeEngines({ w2: 'unix:///nonexistent/bosun-test.sock', byid: 'unix:///nonexistent/other.sock' }, 2000);
  assert.deepEqual(await engines.forNode('n-unknown', 'w9'), { why: 'no engine is configured for it in swarm.nodeEngines' });
  const silent = await engines.forNode('n-w2', 'w2');
  assert.equal(silent.docker, undefined);
  assert.match('why' in silent ? silent.why : '', /^its engine unix:\/\/\/nonexistent\/bosun-test\.sock \(swarm\.nodeEngines\) did not answer: /);
  const byId = await engines.forNode('byid', 'somehost');
  assert.match('why' in byId ? byId.why : '', /other\.sock .*did not answer/, 'found by node ID as well');
});

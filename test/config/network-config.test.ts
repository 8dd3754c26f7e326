import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { describePolicy, NetworkConfig, parseTarget, proxyEnv } from '../../src/executor/container/egress-policy.js';

test('network: egress defaults to internet on one node, with nothing allowed or denied', () => {
  const config = loadConfig({});
  assert.deepEqual(config.network, { egress: 'internet', allow: [], deny: [], dns: [] });
});

test('network: a multi-node swarm (registry) defaults to egress none', () => {
  assert.equal(loadConfig({ BOSUN_SWARM_REGISTRY: 'registry.internal:5000' }).network.egress, 'none');
});

test("network: a multi-node swarm takes egress internet and allowlist when asked (through each build's egress proxy)", () => {
  for (const egress of ['internet', 'allowlist'] as const)
    assert.equal(loadConfig({}, { swarm: { registry: 'registry.internal:5000' }, network: { egress } } as never).network.egress, egress);
});

test('network: BOSUN_EGRESS overrides the file', () => {
  assert.equal(loadConfig({ BOSUN_EGRESS: 'none' }).network.egress, 'none');
});

const invalid: [string, Record<string, unknown>, RegExp][] = [
  ['an unknown egress', { network: { egress: 'some' } }, /network\.egress/],
  ['a host name in allow', { network: { allow: ['pypi.internal:443'] } }, /network\.allow\.0: .*host names are not supported/],
  ['a prefix over /32', { network: { deny: ['10.0.0.0/33'] } }, /network\.deny\.0: expected an IPv4 address or CIDR/],
  ['a port over 65535', { network: { allow: ['10.1.2.3:70000'] } }, /network\.allow\.0/],
  ['an IPv6 range', { network: { allow: ['fd00::/8'] } }, /network\.allow\.0/],
  ['a proxy without a scheme', { network: { proxy: { http: 'proxy:3128' } } }, /network\.proxy\.http: expected http:\/\/host:port/],
  ['a name server given by name', { network: { dns: ['dns.internal'] } }, /network\.dns\.0: expected an IPv4 address/],
  ['an unknown key', { network: { egres: 'none' } }, /network/],
  [
    'a proxy on a multi-node swarm that lets steps out',
    { swarm: { registry: 'registry.internal:5000' }, network: { egress: 'internet', proxy: { https: 'http://10.0.0.5:3128' } } },
    /network\.proxy: not available on a multi-node swarm/,
  ],
];
for (const [name, overrides, message] of invalid) {
  test(`network config with ${name} fails fast naming the field`, () => {
    assert.throws(() => loadConfig({}, overrides as never), message);
  });
}

test('allow/deny entries: an address, a CIDR, either with a port', () => {
  assert.deepEqual(parseTarget('10.1.2.3'), { cidr: '10.1.2.3' });
  assert.deepEqual(parseTarget('10.0.0.0/8'), { cidr: '10.0.0.0/8' });
  assert.deepEqual(parseTarget('10.1.2.3:5432'), { cidr: '10.1.2.3', port: 5432 });
  assert.deepEqual(parseTarget('10.0.0.0/8:443'), { cidr: '10.0.0.0/8', port: 443 });
});

test('proxy settings become upper- and lower-case variables; none without a proxy', () => {
  assert.deepEqual(proxyEnv(undefined), {});
  assert.deepEqual(proxyEnv({ http: 'http://10.0.0.5:3128', noProxy: ['localhost', '.internal'] }), {
    HTTP_PROXY: 'http://10.0.0.5:3128',
    http_proxy: 'http://10.0.0.5:3128',
    NO_PROXY: 'localhost,.internal',
    no_proxy: 'localhost,.internal',
  });
});

test('the policy line names what is blocked and what is let through', () => {
  const line = (input: unknown): string => describePolicy(NetworkConfig.parse(input));
  assert.equal(line({ egress: 'none' }), 'egress=none (no route out: the build network is internal)');
  assert.match(
    line({}),
    /^egress=internet \(this host, link-local incl\. 169\.254\.169\.254 and other builds are blocked; private ranges 10\.0\.0\.0\/8 172\.16\.0\.0\/12 192\.168\.0\.0\/16 100\.64\.0\.0\/10 blocked\)$/,
  );
  assert.match(line({ allow: ['10.1.0.0/16'], deny: ['203.0.113.0/24'] }), /blocked except 10\.1\.0\.0\/16\); denied: 203\.0\.113\.0\/24$/);
  assert.match(
    line({ egress: 'allowlist', allow: ['10.1.2.3:443'], proxy: { http: 'http://10.0.0.5:3128' } }),
    /^egress=allowlist \(allowed: 10\.1\.2\.3:443, and DNS; .*\); http proxy http:\/\/10\.0\.0\.5:3128$/,
  );
});

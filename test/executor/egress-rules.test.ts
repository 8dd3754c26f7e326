import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { NetworkConfig } from '../../src/executor/container/egress-policy.js';
import { egressBatch, egressNames, EgressRules, removalBatch, taggedBuilds, type Firewall } from '../../src/executor/container/egress-rules.js';
import { InfraError, UserError } from '../../src/errors.js';
import { SwarmExecutor } from '../../src/executor/swarm/swarm-executor.js';
import { silentLogger } from '../../src/logger.js';
import type Docker from 'dockerode';

const names = egressNames('bosun', '42');
const policy = (input: unknown = {}): NetworkConfig => NetworkConfig.parse(input);
const rulesOf = (batch: string, chain: string): string[] =>
  batch
    .split('\n')
    .filter((l) => l.startsWith(`-A ${chain} `))
    .map((l) => l.slice(`-A ${chain} `.length));

/** A recording firewall that keeps the filter table as `iptables-save` text (only what the rules touch). */
class FakeFirewall implements Firewall {
  table = ':INPUT ACCEPT [0:0]\n:DOCKER-USER - [0:0]\n-A DOCKER-USER -j RETURN\n';
  batches: string[] = [];
  async save(): Promise<string> {
    return this.table;
  }
  async restore(batch: string): Promise<void> {
    this.batches.push(batch);
    const lines = this.table.split('\n').filter(Boolean);
    for (const line of batch.split('\n')) {
      const chain = /^:(\S+) /.exec(line)?.[1];
      if (chain) {
        const kept = lines.filter((l) => !l.startsWith(`-A ${chain} `) && !l.startsWith(`:${chain} `));
        lines.splice(0, lines.length, ...kept, line);
      }
      if (line.startsWith('-A ')) lines.push(line);
      if (line.startsWith('-I ')) lines.push(line.replace(/^-I (\S+) 1 /, '-A $1 '));
      if (line.startsWith('-D ')) lines.splice(lines.indexOf(line.replace(/^-D /, '-A ')), 1);
      if (line.startsWith('-X '))
        lines.splice(
          lines.findIndex((l) => l.startsWith(`:${line.slice(3)} `)),
          1,
        );
      if (line.startsWith('-F ')) lines.splice(0, lines.length, ...lines.filter((l) => !l.startsWith(`-A ${line.slice(3)} `)));
    }
    this.table = `${lines.join('\n')}\n`;
  }
}

describe('egress rules', () => {
  it('names: a bridge of at most 15 characters, chains of at most 28, stable per instance and build', () => {
    assert.ok(names.bridge.length <= 15 && names.forward.length <= 28);
    assert.deepEqual(egressNames('bosun', '42'), names);
    assert.notEqual(egressNames('other', '42').bridge, names.bridge);
    assert.equal(names.tag, 'bosun:bosun:42');
  });

  const cases: Array<[string, unknown, string[]]> = [
    [
      'internet: replies, same bridge and DNS pass; link-local, then private ranges refused; the rest passes',
      {},
      [
        '-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN',
        `-o ${names.bridge} -j RETURN`,
        '-d 192.0.2.53 -p tcp -m tcp --dport 53 -j RETURN',
        '-d 192.0.2.53 -p udp -m udp --dport 53 -j RETURN',
        '-d 169.254.0.0/16 -j REJECT --reject-with icmp-admin-prohibited',
        '-d 10.0.0.0/8 -j REJECT --reject-with icmp-admin-prohibited',
        '-d 172.16.0.0/12 -j REJECT --reject-with icmp-admin-prohibited',
        '-d 192.168.0.0/16 -j REJECT --reject-with icmp-admin-prohibited',
        '-d 100.64.0.0/10 -j REJECT --reject-with icmp-admin-prohibited',
        '-j RETURN',
      ],
    ],
    [
      'allowlist: deny before allow, then everything else refused',
      { egress: 'allowlist', allow: ['10.1.2.3:5432'], deny: ['10.1.2.3/32'] },
      [
        '-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN',
        `-o ${names.bridge} -j RETURN`,
        '-d 192.0.2.53 -p tcp -m tcp --dport 53 -j RETURN',
        '-d 192.0.2.53 -p udp -m udp --dport 53 -j RETURN',
        '-d 169.254.0.0/16 -j REJECT --reject-with icmp-admin-prohibited',
        '-d 10.1.2.3/32 -j REJECT --reject-with icmp-admin-prohibited',
        '-d 10.1.2.3 -p tcp -m tcp --dport 5432 -j RETURN',
        '-d 10.1.2.3 -p udp -m udp --dport 5432 -j RETURN',
        '-j REJECT --reject-with icmp-admin-prohibited',
      ],
    ],
  ];
  for (const [name, input, forward] of cases) {
    it(`forwarded traffic, ${name}`, () => {
      const batch = egressBatch(policy({ dns: ['192.0.2.53'], ...(input as object) }), names, ['192.0.2.53'], { forward: false, input: false });
      assert.deepEqual(rulesOf(batch, names.forward), forward);
    });
  }

  it('traffic to this host: replies, DNS and an address-named proxy pass, everything else is refused', () => {
    const batch = egressBatch(policy({ proxy: { http: 'http://10.0.0.5:3128' } }), names, ['10.0.0.2'], { forward: false, input: false });
    assert.deepEqual(rulesOf(batch, names.input), [
      '-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
      '-d 10.0.0.2 -p tcp -m tcp --dport 53 -j ACCEPT',
      '-d 10.0.0.2 -p udp -m udp --dport 53 -j ACCEPT',
      '-d 10.0.0.5 -p tcp -m tcp --dport 3128 -j ACCEPT',
      '-d 10.0.0.5 -p udp -m udp --dport 3128 -j ACCEPT',
      '-j REJECT --reject-with icmp-admin-prohibited',
    ]);
    assert.ok(rulesOf(batch, names.forward).includes('-d 10.0.0.5 -p tcp -m tcp --dport 3128 -j RETURN'), 'the proxy is let through like allow');
  });

  it('jumps from DOCKER-USER and INPUT on the bridge, tagged, added only when missing', () => {
    const fresh = egressBatch(policy(), names, [], { forward: false, input: false });
    assert.match(fresh, new RegExp(`^-I DOCKER-USER 1 -i ${names.bridge} -m comment --comment "bosun:bosun:42" -j ${names.forward}$`, 'm'));
    assert.match(fresh, new RegExp(`^-I INPUT 1 -i ${names.bridge} -m comment --comment "bosun:bosun:42" -j ${names.input}$`, 'm'));
    assert.doesNotMatch(egressBatch(policy(), names, [], { forward: true, input: true }), /^-I /m);
  });

  it('install, install again, remove, remove again: one set of jumps, then nothing left', async () => {
    const firewall = new FakeFirewall();
    const rules = new EgressRules(policy({ dns: ['192.0.2.53'] }), 'bosun', { firewall });
    await rules.install('42');
    await rules.install('42');
    assert.equal(firewall.table.split('\n').filter((l) => l.includes('--comment "bosun:bosun:42"')).length, 2);

    await rules.remove('42');
    await rules.remove('42');
    assert.doesNotMatch(firewall.table, /BOSUN-/);
    assert.equal(firewall.batches.length, 3, 'the second remove found nothing to do');
  });

  it('sweep removes the rules of builds that are not live, of this instance only', async () => {
    const firewall = new FakeFirewall();
    const mine = new EgressRules(policy(), 'bosun', { firewall, resolvConf: '/nonexistent' });
    const theirs = new EgressRules(policy(), 'other', { firewall, resolvConf: '/nonexistent' });
    for (const id of ['1', '2', 'b/3']) await mine.install(id);
    await theirs.install('1');
    assert.deepEqual([...taggedBuilds(await firewall.save(), 'bosun')].sort(), ['1', '2', 'b/3']);

    assert.deepEqual((await mine.sweep((id) => id === '2')).sort(), ['1', 'b/3']);
    assert.deepEqual([...taggedBuilds(await firewall.save(), 'bosun')], ['2']);
    assert.deepEqual([...taggedBuilds(await firewall.save(), 'other')], ['1']);
  });

  it("name servers: the host's IPv4 resolvers from resolv.conf, loopback left out (Docker answers those itself)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bosun-resolv-'));
    writeFileSync(join(dir, 'resolv.conf'), 'search x\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nnameserver fd00::53\n');
    const firewall = new FakeFirewall();
    await new EgressRules(policy(), 'bosun', { firewall, resolvConf: join(dir, 'resolv.conf') }).install('7');
    assert.match(firewall.batches[0]!, /-d 192\.0\.2\.53 -p udp -m udp --dport 53 -j RETURN/);
    assert.doesNotMatch(firewall.batches[0]!, /127\.0\.0\.53|fd00/);
  });

  it('a host where the rules cannot go (no DOCKER-USER chain: the engine is elsewhere) is an infra error that says what to do', async () => {
    const firewall = new FakeFirewall();
    firewall.table = ':INPUT ACCEPT [0:0]\n';
    const rules = new EgressRules(policy(), 'bosun', { firewall });
    await assert.rejects(rules.install('9'), (err: unknown) => err instanceof InfraError && /no DOCKER-USER chain.*network\.egress: none/.test(err.message));
    assert.equal(firewall.batches.length, 0);
    assert.match((await rules.problem()) ?? '', /no DOCKER-USER chain.*every build will fail/, 'said at startup too');
    assert.equal(await new EgressRules(policy(), 'bosun', { firewall: new FakeFirewall() }).problem(), undefined);
  });

  it('removal of a build that has no rules is a no-op', () => {
    assert.equal(removalBatch(':INPUT ACCEPT [0:0]\n', names), undefined);
  });

  it("a multi-node swarm executor sends a policy that lets steps out through the build's egress proxy, refuses network.proxy, and takes none", async () => {
    const common = { docker: {} as Docker, instanceId: 'bosun', log: silentLogger(), registry: '10.0.0.9:5000' };
    const routed = new SwarmExecutor({ ...common, egress: policy() });
    assert.match(routed.network, /^egress=internet .*multi-node: HTTP and HTTPS only, through the build's egress proxy bosun-egress-proxy:3128/);
    await routed.close();
    assert.throws(
      () => new SwarmExecutor({ ...common, egress: policy({ proxy: { https: 'http://10.0.0.5:3128' } }) }),
      (err: unknown) => err instanceof UserError && /network\.proxy is not available on a multi-node swarm/.test(err.message),
    );
    const none = new SwarmExecutor({ ...common, egress: policy({ egress: 'none' }) });
    assert.match(none.network, /^egress=none/);
    await none.close();
  });
});

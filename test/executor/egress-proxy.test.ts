import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import type { Executor, StepSpec } from '../../src/executor/executor.js';
import { SwarmExecutor } from '../../src/executor/swarm/swarm-executor.js';
import { NetworkConfig } from '../../src/executor/container/egress-policy.js';
import { egressNames } from '../../src/executor/container/egress-rules.js';
import { egressNetworkName, egressProxyName } from '../../src/executor/container/resource-names.js';
import { silentLogger } from '../../src/logger.js';
import { collect, greeter, hostAddresses, makeSpec, makeWorkspace, runId, runStep, waitFor } from './contract-support.js';
import { baseImage, engineForTests, sweepInstance, testInstanceId } from './docker-harness.js';
import { egressWorldProblem, startEgressWorld, type EgressWorld } from '../support/egress-world.js';
import { connectProbe, linesOf, pipDownload, tcpProbe } from '../support/egress-probes.js';

// Egress through a build's egress proxy (docs/network.md, "Multi-node"): the path a multi-node
// swarm takes, run here on one node with the executor's `network: 'overlay'` (the same code:
// an internal overlay for steps, the proxy on Bosun's node as their only way out). The
// two-node proof is test/multinode/egress-services.test.ts.

const docker = await engineForTests(true);
const problem = egressWorldProblem();

if (docker && problem) it(`egress proxy tests skipped: ${problem}`, (t) => t.skip(problem));

if (docker && !problem) {
  const engine = docker;
  describe('egress through the build proxy (overlay network)', { timeout: 600_000 }, () => {
    let world: EgressWorld;
    let workspace: string;
    const made: Array<{ executor: Executor; builds: string[] }> = [];

    before(async () => {
      world = await startEgressWorld();
      workspace = makeWorkspace();
    });
    after(async () => {
      for (const { executor, builds } of made) {
        for (const b of builds) await executor.cleanupBuild(b).catch(() => undefined);
        await executor.close();
      }
      await sweepInstance(engine);
      await world?.close();
    });

    const make = (over: Partial<NetworkConfig> = {}) => {
      const egress = NetworkConfig.parse({ dns: [world.dns], ...over });
      const executor = new SwarmExecutor({ docker: engine, instanceId: testInstanceId, log: silentLogger(), timeoutGraceMs: 2000, egress, network: 'overlay' });
      const entry = { executor, builds: [] as string[] };
      made.push(entry);
      const spec = (buildId: string, o: Partial<StepSpec> = {}): StepSpec => {
        if (!entry.builds.includes(buildId)) entry.builds.push(buildId);
        return makeSpec({ workspace, image: baseImage, buildId }, { limits: { cpus: 1, memoryBytes: 512 * 2 ** 20, pids: 256 }, timeoutSec: 180, ...o });
      };
      return { executor, spec };
    };

    it('egress internet: a step downloads a package by name through the proxy (the proxy resolves the name)', async () => {
      const { executor, spec } = make();
      const before = world.hits(world.internet);

      const { outcome, out } = await runStep(
        executor,
        spec(`ep${runId}i`, { env: { TUNNELS: 'pypi.test:80' }, commands: ['env | grep ^HTTP_PROXY=', connectProbe, ...pipDownload(world.indexUrl, 'six')] }),
      );

      assert.equal(outcome.exitCode, 0, out.stdout + out.stderr);
      assert.match(out.stdout, /^HTTP_PROXY=http:\/\/bosun-egress-proxy:3128$/m);
      assert.match(out.stdout, /^TUNNEL pypi\.test:80 /m, out.stdout);
      assert.match(out.stdout, /Saved \/tmp\/dl\/six-[\d.]+-py2\.py3-none-any\.whl/);
      assert.ok(world.hits(world.internet) > before);
      assert.match(executor.network, /^egress=internet .*through the build's egress proxy/);
    });

    it('egress internet: this host, the private host, the metadata address and another build are refused by the proxy with the reason; nothing has a direct route', async () => {
      const { executor, spec } = make();
      const host = await greeter();
      const other = await executor.start(
        spec(`ep${runId}o`, {
          commands: [
            'python3 -c \'import socket; s=socket.socket(); s.bind(("0.0.0.0", 8080)); s.listen(); print("ADDR", socket.gethostbyname(socket.gethostname()), flush=True)\nwhile True: c,_=s.accept(); c.sendall(b"HELLO-OTHER-BUILD\\n"); c.close()\'',
          ],
        }),
      );
      let otherOut = '';
      const otherDone = collect(other.output, (text) => (otherOut = text));
      try {
        await waitFor('the other build to listen', () => /^ADDR \S+$/m.test(otherOut), 90_000);
        const otherAddr = /^ADDR (\S+)$/m.exec(otherOut)![1]!;
        const hostPorts = hostAddresses().flatMap((ip) => [`${ip}:${host.port}`, `${ip}:2375`, `${ip}:2377`]);
        const forbidden = [...hostPorts, `${world.privateHost}:80`, `${world.metadata}:80`, `${otherAddr}:8080`];
        const hitsBefore = { private: world.hits(world.privateHost), metadata: world.hits(world.metadata) };

        const { outcome, out } = await runStep(
          executor,
          spec(`ep${runId}p`, {
            env: { TUNNELS: [...forbidden, `${world.internet}:80`].join(' '), PROBES: `${world.internet}:80 ${world.privateHost}:80 ${world.metadata}:80` },
            commands: [connectProbe, tcpProbe],
          }),
        );

        assert.equal(outcome.exitCode, 0, out.stderr);
        assert.deepEqual(
          linesOf(out.stdout, 'TUNNEL').map((l) => l.split(' ')[1]),
          [`${world.internet}:80`],
          out.stdout,
        );
        const refused = linesOf(out.stdout, 'REFUSED');
        assert.equal(refused.length, forbidden.length, out.stdout);
        for (const line of refused) assert.match(line, /403 Forbidden \| bosun egress proxy: refused \S+ \(\S+\): .+; policy egress=internet/);
        assert.match(refused.find((l) => l.includes(`${world.metadata}:80`)) ?? '', /link-local/);
        assert.match(refused.find((l) => l.includes(`${world.privateHost}:80`)) ?? '', /private range/);
        assert.equal(linesOf(out.stdout, 'SHUT').length, 3, `no direct route at all: ${out.stdout}`);
        assert.equal(host.connections, 0);
        assert.equal(world.hits(world.privateHost), hitsBefore.private);
        assert.equal(world.hits(world.metadata), hitsBefore.metadata);
      } finally {
        await other.destroy();
        await otherDone;
        await host.close();
      }
    });

    it('egress allowlist: the proxy lets through exactly what it names', async () => {
      const { executor, spec } = make({ egress: 'allowlist', allow: [`${world.privateHost}:80`] });

      const { out } = await runStep(
        executor,
        spec(`ep${runId}a`, {
          env: { TUNNELS: `${world.privateHost}:80 ${world.privateHost}:81 ${world.internet}:80 ${world.metadata}:80` },
          commands: [connectProbe],
        }),
      );

      assert.deepEqual(linesOf(out.stdout, 'TUNNEL'), [`TUNNEL ${world.privateHost}:80 HELLO-${world.privateHost}`], out.stdout);
      assert.equal(linesOf(out.stdout, 'REFUSED').length, 3, out.stdout);
      assert.match(out.stdout, /network\.allow does not name it/);
    });

    it('egress none: no proxy, nothing reachable', async () => {
      const { executor, spec } = make({ egress: 'none' });
      const before = world.hits(world.internet);

      const { outcome, out } = await runStep(
        executor,
        spec(`ep${runId}n`, {
          env: { PROBES: `${world.internet}:80 ${world.privateHost}:80 ${world.metadata}:80` },
          commands: ['env | grep -ci _proxy= || true', tcpProbe, ...pipDownload(world.indexUrl, 'six')],
        }),
      );

      assert.notEqual(outcome.exitCode, 0);
      assert.match(out.stdout, /^0$/m, 'no proxy variables');
      assert.equal(linesOf(out.stdout, 'SHUT').length, 3, out.stdout);
      assert.equal(world.hits(world.internet), before);
      assert.deepEqual(await proxyServices(engine, `ep${runId}n`), []);
    });

    it('the proxy, its network and its rules go with the build, and a sweep after a crash removes them', async () => {
      const { executor, spec } = make();
      const buildA = `ep${runId}c`;
      const buildB = `ep${runId}d`;
      for (const b of [buildA, buildB]) assert.equal((await runStep(executor, spec(b, { commands: ['true'] }))).outcome.exitCode, 0);
      for (const b of [buildA, buildB]) {
        assert.equal((await proxyServices(engine, b)).length, 1);
        assert.ok(hasRules(b), `rules of ${b} installed`);
      }

      await executor.cleanupBuild(buildA);
      assert.deepEqual(await proxyServices(engine, buildA), []);
      assert.deepEqual(await egressNetworks(engine, buildA), []);
      assert.equal(hasRules(buildA), false);

      // A new process (a crash before cleanup): the sweep finds build B's proxy by its labels.
      const fresh = make().executor;
      const swept = await fresh.reapBuilds(() => false);
      assert.ok(swept.includes(buildB), swept.join(','));
      assert.deepEqual(await proxyServices(engine, buildB), []);
      assert.deepEqual(await egressNetworks(engine, buildB), []);
      assert.equal(hasRules(buildB), false);
      // And `reap` (orphaned steps) never takes a live build's proxy.
      assert.equal((await runStep(executor, spec(buildA, { commands: ['true'] }))).outcome.exitCode, 0);
      await fresh.reap(() => false);
      assert.equal((await proxyServices(engine, buildA)).length, 1);
    });
  });
}

async function proxyServices(docker: Docker, buildId: string): Promise<string[]> {
  const name = egressProxyName(testInstanceId, buildId);
  return (await docker.listServices({ filters: JSON.stringify({ name: [name] }) })).filter((s) => s.Spec?.Name === name).map((s) => s.ID);
}

async function egressNetworks(docker: Docker, buildId: string): Promise<string[]> {
  const name = egressNetworkName(testInstanceId, buildId);
  return (await docker.listNetworks({ filters: JSON.stringify({ name: [name] }) })).filter((n) => n.Name === name).map((n) => n.Id);
}

function hasRules(buildId: string): boolean {
  const { forward, input } = egressNames(testInstanceId, buildId);
  const saved = execFileSync('iptables-save', ['-t', 'filter']).toString();
  return saved.includes(`:${forward} `) || saved.includes(`:${input} `);
}

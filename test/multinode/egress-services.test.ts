import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ServiceHandle, StepSpec } from '../../src/executor/executor.js';
import { SwarmExecutor } from '../../src/executor/swarm/swarm-executor.js';
import { NetworkConfig } from '../../src/executor/container/egress-policy.js';
import { egressNames } from '../../src/executor/container/egress-rules.js';
import { egressNetworkName, egressProxyName } from '../../src/executor/container/resource-names.js';
import { serviceSpecFor } from '../../src/pipeline/stage-services.js';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { collect, greeter, hostAddresses, makeSpec, makeWorkspace, runStep } from '../executor/contract-support.js';
import { egressWorldProblem, startEgressWorld, type EgressWorld } from '../support/egress-world.js';
import { connectProbe, linesOf, pipDownload, tcpProbe } from '../support/egress-probes.js';
import { startHarness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { describeBuild } from '../../commands/describe-build.js';
import { manager, node2, registry, requireTwoNodes, setNodeLabel, type TwoNodes } from './two-node-support.js';

// Issue 12 on a real two-node swarm (scripts/multinode-up.sh): egress under the policy and
// stage services when steps run on either node. Steps are on the build's internal overlay; the
// build's egress proxy on the manager (Bosun's node) is their only way out, under the build's
// iptables rules there (docs/network.md, "Multi-node swarm"). The stand-in internet, private
// host and metadata address are test hosts in a network namespace on this machine
// (test/support/egress-world.ts): traffic that leaves a build leaves from the manager's host.

const instanceId = `mne${process.pid}`;
const baseImage = 'bosun/base:bookworm';
const redisImage = 'bosun/redis-test:7';

describe('egress and services on a two-node swarm', { timeout: 900_000 }, () => {
  let nodes: TwoNodes | undefined;
  let world: EgressWorld | undefined;
  let workspace = '';
  const made: Array<{ executor: SwarmExecutor; builds: Set<string> }> = [];

  before(async () => {
    nodes = await requireTwoNodes();
    if (!nodes) return;
    const problem = egressWorldProblem();
    if (problem) throw new Error(`the egress world cannot be made here: ${problem}`);
    world = await startEgressWorld();
    workspace = makeWorkspace();
  });
  after(async () => {
    for (const { executor, builds } of made) {
      for (const b of builds) await executor.cleanupBuild(b).catch(() => undefined);
      await executor.close();
    }
    const left = await manager.listImages({ filters: JSON.stringify({ label: [`bosun.instance=${instanceId}`] }) });
    for (const image of left)
      await manager
        .getImage(image.Id)
        .remove({ force: true })
        .catch(() => undefined);
    await world?.close();
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  const make = (over: Partial<NetworkConfig> = {}) => {
    const egress = NetworkConfig.parse({ dns: [world!.dns], ...over });
    const executor = new SwarmExecutor({
      docker: manager,
      instanceId,
      log: silentLogger(),
      timeoutGraceMs: 2000,
      registry,
      egress,
      unschedulableAfterMs: 120_000,
    });
    const entry = { executor, builds: new Set<string>() };
    made.push(entry);
    const spec = (buildId: string, node: string, o: Partial<StepSpec> = {}): StepSpec => {
      entry.builds.add(buildId);
      return makeSpec(
        { workspace, image: baseImage, buildId },
        { limits: { cpus: 1, memoryBytes: 512 * 2 ** 20, pids: 256 }, timeoutSec: 240, placement: { constraints: [`node.id==${node}`] }, ...o },
      );
    };
    return { executor, spec, builds: entry.builds };
  };

  it('a step on the second node downloads a package from the stand-in index by name (egress internet)', async (t) => {
    if (!nodes || !world) return t.skip('no two-node swarm');
    const { executor, spec } = make();
    const before = world.hits(world.internet);

    const { outcome, out } = await runStep(executor, spec(`mi${process.pid}`, nodes.node2Id, { commands: pipDownload(world.indexUrl, 'six') }));

    assert.equal(outcome.exitCode, 0, out.stdout + out.stderr);
    assert.equal(outcome.node?.id, nodes.node2Id, 'the step ran on the second node');
    assert.match(out.stdout, /Saved \/tmp\/dl\/six-[\d.]+-py2\.py3-none-any\.whl/);
    assert.ok(world.hits(world.internet) > before);
    // The proxy ran on the manager, where its rules are.
    const proxyTasks = (await manager.listTasks({ filters: JSON.stringify({ service: [egressProxyName(instanceId, `mi${process.pid}`)] }) })) as Array<{
      NodeID?: string;
    }>;
    assert.ok(proxyTasks.length > 0 && proxyTasks.every((task) => task.NodeID === nodes!.managerId));
  });

  for (const where of ['manager', 'node2'] as const) {
    it(`from a step on the ${where}: every node's address, this host, the private host, the metadata address and another build are refused; nothing has a direct route`, async (t) => {
      if (!nodes || !world) return t.skip('no two-node swarm');
      const w = world;
      const here = where === 'manager' ? nodes.managerId : nodes.node2Id;
      const there = where === 'manager' ? nodes.node2Id : nodes.managerId;
      const { executor, spec } = make();
      const host = await greeter();
      // Another build's listener, on the other node.
      const other = await executor.start(
        spec(`mo${where}${process.pid}`, there, {
          commands: [
            'python3 -c \'import socket; s=socket.socket(); s.bind(("0.0.0.0", 8080)); s.listen(); print("ADDR", socket.gethostbyname(socket.gethostname()), flush=True)\nwhile True: c,_=s.accept(); c.sendall(b"HELLO-OTHER-BUILD\\n"); c.close()\'',
          ],
        }),
      );
      let otherOut = '';
      const otherDone = collect(other.output, (text) => (otherOut = text));
      try {
        const deadline = Date.now() + 120_000;
        while (!/^ADDR \S+$/m.test(otherOut)) {
          if (Date.now() > deadline) assert.fail(`the other build never listened: ${otherOut}`);
          await new Promise((r) => setTimeout(r, 250));
        }
        const otherAddr = /^ADDR (\S+)$/m.exec(otherOut)![1]!;
        const node2Addr = process.env.BOSUN_NODE2_ADDR ?? '10.210.0.2';
        const hostPorts = hostAddresses().flatMap((ip) => [`${ip}:${host.port}`, `${ip}:2375`, `${ip}:2377`]);
        const forbidden = [...hostPorts, `${node2Addr}:2377`, `${node2Addr}:7946`, `${w.privateHost}:80`, `${w.metadata}:80`, `${otherAddr}:8080`];
        const hitsBefore = { private: w.hits(w.privateHost), metadata: w.hits(w.metadata) };

        const { outcome, out } = await runStep(
          executor,
          spec(`mp${where}${process.pid}`, here, {
            env: {
              TUNNELS: [...forbidden, `${w.internet}:80`, 'pypi.test:80'].join(' '),
              PROBES: [
                `${w.internet}:80`,
                `${w.privateHost}:80`,
                `${w.metadata}:80`,
                `${node2Addr}:2377`,
                `${hostAddresses().find((a) => a !== '127.0.0.1')}:${host.port}`,
              ].join(' '),
            },
            commands: [connectProbe, tcpProbe],
          }),
        );

        assert.equal(outcome.exitCode, 0, out.stderr);
        assert.equal(outcome.node?.id, here);
        assert.deepEqual(
          linesOf(out.stdout, 'TUNNEL').map((l) => l.split(' ')[1]),
          [`${w.internet}:80`, 'pypi.test:80'],
          `only the internet, by address and by name: ${out.stdout}`,
        );
        const refused = linesOf(out.stdout, 'REFUSED');
        assert.equal(refused.length, forbidden.length, out.stdout);
        for (const line of refused) assert.match(line, /403 Forbidden \| bosun egress proxy: refused \S+ \(\S+\): .+; policy egress=internet/);
        assert.match(refused.find((l) => l.includes(`${node2Addr}:2377`)) ?? '', /swarm node's own address/);
        assert.equal(linesOf(out.stdout, 'SHUT').length, 5, `no direct route at all: ${out.stdout}`);
        assert.equal(host.connections, 0);
        assert.equal(w.hits(w.privateHost), hitsBefore.private);
        assert.equal(w.hits(w.metadata), hitsBefore.metadata);
      } finally {
        await other.destroy();
        await otherDone;
        await host.close();
      }
    });
  }

  it('egress allowlist on the second node: exactly what it names', async (t) => {
    if (!nodes || !world) return t.skip('no two-node swarm');
    const { executor, spec } = make({ egress: 'allowlist', allow: [`${world.privateHost}:80`] });

    const { out } = await runStep(
      executor,
      spec(`ma${process.pid}`, nodes.node2Id, {
        env: { TUNNELS: `${world.privateHost}:80 ${world.privateHost}:81 ${world.internet}:80 ${world.metadata}:80` },
        commands: [connectProbe],
      }),
    );

    assert.deepEqual(linesOf(out.stdout, 'TUNNEL'), [`TUNNEL ${world.privateHost}:80 HELLO-${world.privateHost}`], out.stdout);
    assert.equal(linesOf(out.stdout, 'REFUSED').length, 3, out.stdout);
  });

  it('egress none: a step on the second node has no proxy and reaches nothing', async (t) => {
    if (!nodes || !world) return t.skip('no two-node swarm');
    const { executor, spec } = make({ egress: 'none' });
    const before = world.hits(world.internet);

    const { outcome, out } = await runStep(
      executor,
      spec(`mn${process.pid}`, nodes.node2Id, {
        env: { PROBES: `${world.internet}:80 ${world.privateHost}:80 ${world.metadata}:80` },
        commands: ['env | grep -ci _proxy= || true', tcpProbe, ...pipDownload(world.indexUrl, 'six')],
      }),
    );

    assert.notEqual(outcome.exitCode, 0);
    assert.equal(outcome.node?.id, nodes.node2Id);
    assert.match(out.stdout, /^0$/m, 'no proxy variables');
    assert.equal(linesOf(out.stdout, 'SHUT').length, 3, out.stdout);
    assert.equal(world.hits(world.internet), before);
  });

  it("a stage's service on one node is reachable by name from a step on the other; its log is readable; it goes at stage end and after a crash", async (t) => {
    if (!nodes || !world) return t.skip('no two-node swarm');
    const { executor, spec } = make();
    const buildId = `ms${process.pid}`;
    const deps = { config: loadConfig({}, {}), instanceId };
    const plan = (name: string) => ({
      name,
      image: redisImage,
      env: {},
      command: ['redis-server', '--save', '', '--dir', '/tmp', '--protected-mode', 'no'],
      ready: { kind: 'run' as const, commands: ['redis-cli ping'], intervalSec: 1, timeoutSec: 120, retries: 3 },
      limits: {},
    });
    spec(buildId, nodes.managerId); // registers the build for cleanup
    const cache: ServiceHandle = await executor.startService(serviceSpecFor(deps, buildId, 'test', plan('cache')));
    let serviceOut = '';
    const serviceDone = collect(cache.output, (text) => (serviceOut = text));
    try {
      assert.deepEqual(await cache.ready(), { state: 'ready' });
      const serviceNode = await taskNode(cache.ref);
      const stepNode = serviceNode === nodes.managerId ? nodes.node2Id : nodes.managerId;

      const { outcome, out } = await runStep(
        executor,
        spec(buildId, stepNode, {
          image: redisImage,
          commands: ['redis-cli -h cache set greeting hello', 'echo "cache says $(redis-cli -h cache get greeting)"', 'echo "NO_PROXY=$NO_PROXY"'],
        }),
      );

      assert.equal(outcome.exitCode, 0, out.stdout + out.stderr);
      assert.equal(outcome.node?.id, stepNode);
      assert.notEqual(stepNode, serviceNode, 'the step and the service ran on different nodes');
      assert.match(out.stdout, /cache says hello/);
      assert.match(out.stdout, /^NO_PROXY=.*\bcache\b/m, 'the service is reached directly, not through the egress proxy');
      assert.deepEqual(await cache.check(), { state: 'ready' });
    } finally {
      await cache.destroy();
      await serviceDone;
    }
    assert.match(serviceOut, /Ready to accept connections/, 'the service log is readable');
    assert.deepEqual(await stageServices(buildId), [], 'removed at stage end');

    // After a crash: the next worker's reap removes a service no running stage owns.
    const orphan = await executor.startService(serviceSpecFor(deps, buildId, 'test', plan('orphan')));
    const orphanDone = collect(orphan.output);
    assert.equal((await stageServices(buildId)).length, 1);
    const fresh = make().executor;
    const reaped = await fresh.reap(() => false);
    assert.ok(reaped.includes(orphan.ref), reaped.join(','));
    assert.deepEqual(await stageServices(buildId), []);
    await orphan.destroy();
    await orphanDone;
  });

  it('a build through Bosun: a stage on the second node with a service and egress internet passes', async (t) => {
    if (!nodes || !world) return t.skip('no two-node swarm');
    const hInstance = `mnh${process.pid}`;
    const dir = mkdtempSync(join(tmpdir(), 'bosun-mne-'));
    await setNodeLabel(nodes.node2Id, 'bosun.egresszone', 'b');
    const repo = await makeRepo(dir, 'app', {
      'bosun.yml': [
        'version: 1',
        `image: ${redisImage}`,
        'stages:',
        '  test:',
        '    labels: [zone-b]',
        '    services:',
        '      cache:',
        `        image: ${redisImage}`,
        '        command: [redis-server, --save, "", --dir, /tmp, --protected-mode, "no"]',
        '        ready: { run: redis-cli ping, timeout: 120s }',
        '    steps:',
        '      - name: talk',
        '        run:',
        '          - redis-cli -h cache set greeting hello',
        '          - echo "cache says $(redis-cli -h cache get greeting)"',
        `          - python3 -c "import urllib.request; print('index', urllib.request.urlopen('${world.indexUrl}').status)"`,
        '',
      ].join('\n'),
    });
    const egress = NetworkConfig.parse({ dns: [world.dns] });
    const h = await startHarness(
      {
        instanceId: hInstance,
        repos: { app: { url: repo.url } },
        swarm: { registry, placement: { 'zone-b': ['node.labels.bosun.egresszone==b'] } },
        limits: { killGraceSec: 2 },
      },
      { executor: () => new SwarmExecutor({ docker: manager, instanceId: hInstance, log: silentLogger(), timeoutGraceMs: 2000, registry, egress }) },
    );
    try {
      const res = await h.api('POST', '/api/builds', { repo: 'app', ref: 'master' });
      assert.equal(res.status, 201, JSON.stringify(res.json));
      const b = await h.waitDone(res.json.build.id, 400_000);
      assert.equal(b.status, 'success', describeBuild(b));
      assert.equal(b.stages[0]!.steps[0]!.node?.id, nodes.node2Id, 'the step ran on the second node');
      const talk = String((await h.api('GET', `/api/builds/${b.id}/logs/test/talk`)).json);
      assert.match(talk, /cache says hello/);
      assert.match(talk, /^index 200$/m);
      assert.match(talk, /egress=internet .*through the build's egress proxy/);
      assert.match(String((await h.api('GET', `/api/builds/${b.id}/logs/test/service:cache`)).json), /Ready to accept connections/);
    } finally {
      await h.stop();
      await setNodeLabel(nodes.node2Id, 'bosun.egresszone', undefined).catch(() => undefined);
      const cleanup = new SwarmExecutor({ docker: manager, instanceId: hInstance, log: silentLogger(), registry, egress });
      await cleanup.reapBuilds(() => false).catch(() => undefined);
      await cleanup.reap(() => false).catch(() => undefined);
      await cleanup.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('nothing is left after the builds: no proxy, no egress network, no rules, no service', async (t) => {
    if (!nodes || !world) return t.skip('no two-node swarm');
    const builds = made.flatMap((m) => [...m.builds].map((b) => ({ executor: m.executor, b })));
    assert.ok(builds.length >= 5);
    for (const { executor, b } of builds) await executor.cleanupBuild(b);
    const services = await manager.listServices({ filters: JSON.stringify({ label: [`bosun.instance=${instanceId}`] }) });
    assert.deepEqual(
      services.map((s) => s.Spec?.Name),
      [],
    );
    const networks = (await manager.listNetworks()).filter((n) => n.Name.startsWith(`bosun-${instanceId}`));
    assert.deepEqual(
      networks.map((n) => n.Name),
      [],
    );
    const saved = execFileSync('iptables-save', ['-t', 'filter']).toString();
    for (const { b } of builds) {
      const { forward, input } = egressNames(instanceId, b);
      assert.ok(!saved.includes(`:${forward} `) && !saved.includes(`:${input} `), `rules of ${b} removed`);
      assert.equal((await manager.listNetworks({ filters: JSON.stringify({ name: [egressNetworkName(instanceId, b)] }) })).length, 0);
    }
    // The second node keeps no container of these builds (its task containers go shortly after their services).
    const filters = JSON.stringify({ label: [`bosun.instance=${instanceId}`] });
    const deadline = Date.now() + 120_000;
    let onNode2 = await node2.listContainers({ all: true, filters });
    while (onNode2.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      onNode2 = await node2.listContainers({ all: true, filters });
    }
    assert.deepEqual(
      onNode2.map((c) => c.Names[0]),
      [],
    );
  });
});

/** The node the (one) task of a `swarm:<id>` service runs on. */
async function taskNode(ref: string): Promise<string> {
  const id = ref.replace(/^swarm:/, '');
  const tasks = (await manager.listTasks({ filters: JSON.stringify({ service: [id] }) })) as Array<{ NodeID?: string }>;
  const node = tasks.find((task) => task.NodeID)?.NodeID;
  assert.ok(node, 'the service task has a node');
  return node;
}

/** This instance's stage services of a build (Swarm services carrying `bosun.service`). */
async function stageServices(buildId: string): Promise<string[]> {
  const found = await manager.listServices({ filters: JSON.stringify({ label: [`bosun.instance=${instanceId}`, `bosun.build=${buildId}`, 'bosun.service'] }) });
  return found.map((s) => s.ID);
}

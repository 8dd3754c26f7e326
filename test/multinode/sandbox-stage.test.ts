import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { labelKeys, type StepSpec } from '../../src/executor/executor.js';
import { SwarmExecutor, type SwarmExecutorOptions } from '../../src/executor/swarm/swarm-executor.js';
import { NetworkConfig } from '../../src/executor/container/egress-policy.js';
import { silentLogger } from '../../src/logger.js';
import { collect, makeSpec, makeWorkspace, runStep, waitFor } from '../executor/contract-support.js';
import { startHarness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { describeBuild } from '../../commands/describe-build.js';
import { manager, node2, node2Socket, registry, requireTwoNodes, setNodeLabel, type TwoNodes } from './two-node-support.js';

// `sandbox: stage` on a real two-node swarm (scripts/multinode-up.sh; docs/sandbox.md, "On
// several nodes"): a stage sandbox whose task runs on this node is exec'd through the local
// engine; one on the second node is exec'd through that node's engine when swarm.nodeEngines
// names it (its socket is on this machine), and otherwise the stage's steps run as services of
// their own. Each step's log line (`StepHandle.where`, written as is by the pipeline) says which.

const instanceId = `mns${process.pid}`;
const baseImage = 'bosun/base:bookworm';

/** The step script lines of the isolation check: what one step leaves must not reach the next. */
const leaveBehind = [
  'export LEAK=1',
  'echo first > /tmp/t1',
  'echo first > "$HOME/h1"',
  'echo ws > stage-ws.txt',
  'sleep 4242 >/dev/null 2>&1 &',
  'echo $! > bgpid.txt',
  'echo "host=$(hostname)"',
];
const findNothing = [
  'echo "[${ONLY_FIRST:-unset}] [${LEAK:-unset}] [${STAGE_TOKEN:-unset}]"',
  'ls /tmp/t1 "$HOME/h1" 2>/dev/null || echo no-leftovers',
  'echo "secrets=$(ls -A /run/secrets 2>/dev/null | wc -l)"',
  'cat stage-ws.txt',
  'p=$(cat bgpid.txt); if [ "$(tr "\\0" " " < /proc/$p/cmdline 2>/dev/null)" = "sleep 4242 " ]; then echo bg-alive; else echo bg-gone; fi',
  'echo "host=$(hostname)"',
];
const hostOf = (stdout: string) => /^host=(.*)$/m.exec(stdout)?.[1];
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

describe('sandbox: stage on a two-node swarm', { timeout: 1_200_000 }, () => {
  let nodes: TwoNodes | undefined;
  let workspace = '';
  /** How the log names the second node: `hostname (id12)`. */
  let node2Named = '';
  const made: Array<{ executor: SwarmExecutor; builds: Set<string> }> = [];

  before(async () => {
    nodes = await requireTwoNodes();
    if (!nodes) return;
    workspace = makeWorkspace();
    const info = (await manager.getNode(nodes.node2Id).inspect()) as { Description?: { Hostname?: string } };
    node2Named = `${info.Description?.Hostname ?? '?'} (${nodes.node2Id.slice(0, 12)})`;
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
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  const make = (over: Partial<SwarmExecutorOptions> = {}) => {
    const executor = new SwarmExecutor({
      docker: manager,
      instanceId,
      log: silentLogger(),
      timeoutGraceMs: 2000,
      registry,
      sandbox: 'stage',
      unschedulableAfterMs: 120_000,
      ...over,
    });
    const entry = { executor, builds: new Set<string>() };
    made.push(entry);
    /** A step of stage `test` of `buildId`, placed on `node`. */
    const spec = (buildId: string, node: string, o: Partial<StepSpec> = {}): StepSpec => {
      entry.builds.add(buildId);
      return makeSpec(
        { workspace, image: baseImage, buildId },
        { limits: { cpus: 1, memoryBytes: 256 * 2 ** 20, pids: 256 }, timeoutSec: 240, placement: { constraints: [`node.id==${node}`] }, ...o },
      );
    };
    return { executor, spec };
  };

  it('a stage on the second node, whose engine this worker is not given: each step runs as its own service there; outcomes, output and isolation as promised; the log names the node and says why; nothing is left after the build', async (t) => {
    if (!nodes) return t.skip('no two-node swarm');
    const { executor, spec } = make();
    const buildId = `mf${process.pid}`;
    const step = (o: Partial<StepSpec>) => spec(buildId, nodes!.node2Id, o);

    const first = await runStep(executor, step({ env: { ONLY_FIRST: 'one' }, commands: leaveBehind }));
    const second = await runStep(executor, step({ commands: findNothing }));
    const third = await runStep(executor, step({ commands: ['echo third', 'exit 3'] }));

    const fallback = new RegExp(
      `^bosun: the step runs as its own swarm service: the stage's sandbox landed on node ${escape(node2Named)}, which this worker cannot exec on: no engine is configured for it in swarm\\.nodeEngines$`,
    );
    for (const r of [first, second, third]) {
      assert.match(r.handle.ref, /^swarm:/, 'a service of its own');
      assert.match(r.handle.where ?? '', fallback);
      assert.equal(r.outcome.node?.id, nodes.node2Id, 'it ran on the second node');
    }
    assert.equal(first.outcome.exitCode, 0, first.out.stdout + first.out.stderr);
    assert.equal(second.outcome.exitCode, 0, second.out.stdout + second.out.stderr);
    assert.match(second.out.stdout, /^\[unset\] \[unset\] \[unset\]$/m);
    assert.match(second.out.stdout, /^no-leftovers$/m);
    assert.match(second.out.stdout, /^ws$/m, 'the workspace carries over');
    assert.match(second.out.stdout, /^bg-gone$/m);
    assert.notEqual(hostOf(second.out.stdout), hostOf(first.out.stdout), 'each step in a container of its own');
    assert.deepEqual({ exitCode: third.outcome.exitCode, reason: third.outcome.reason }, { exitCode: 3, reason: undefined });
    assert.match(third.out.stdout, /^third$/m);

    await executor.endStage(buildId, 'test');
    await executor.cleanupBuild(buildId);
    assert.deepEqual(await buildServices(buildId), [], 'no service of the build');
    await waitFor('no container of the build on the second node', async () => (await node2Containers(buildId)).length === 0, 120_000);
  });

  it("a stage on this node: its steps are exec'd in one sandbox through the local engine, and the log says so", async (t) => {
    if (!nodes) return t.skip('no two-node swarm');
    const { executor, spec } = make();
    const buildId = `ml${process.pid}`;
    const step = (o: Partial<StepSpec>) => spec(buildId, nodes!.managerId, o);

    const first = await runStep(executor, step({ env: { ONLY_FIRST: 'one' }, commands: leaveBehind }));
    const second = await runStep(executor, step({ commands: findNothing }));

    for (const r of [first, second]) {
      assert.equal(r.outcome.exitCode, 0, r.out.stdout + r.out.stderr);
      assert.match(r.handle.ref, /^sandbox:/);
      assert.match(
        r.handle.where ?? '',
        /^bosun: the step runs in the stage's sandbox \S+ \(a swarm task on this node; docker exec through the local engine\)$/,
      );
      assert.equal(r.outcome.node?.id, nodes.managerId);
    }
    assert.equal(hostOf(second.out.stdout), hostOf(first.out.stdout), 'both in the one sandbox');
    assert.match(second.out.stdout, /^\[unset\] \[unset\] \[unset\]$/m);
    assert.match(second.out.stdout, /^no-leftovers$/m);
    assert.match(second.out.stdout, /^bg-gone$/m);
    assert.equal((await sandboxServices(buildId)).length, 1);

    await executor.endStage(buildId, 'test');
    assert.deepEqual(await sandboxServices(buildId), [], 'endStage removes the sandbox');
  });

  it("a stage on the second node with its engine in swarm.nodeEngines: exec'd in a sandbox there through that engine; env, files, secrets and processes isolated per step; timeout; a failing exit code; the log names node and engine", async (t) => {
    if (!nodes) return t.skip('no two-node swarm');
    const engine = `unix://${node2Socket}`;
    const { executor, spec } = make({ nodeEngines: { [nodes.node2Id]: engine } });
    const buildId = `me${process.pid}`;
    const step = (o: Partial<StepSpec>) => spec(buildId, nodes!.node2Id, o);
    const secret = { name: 'STAGE_TOKEN', value: `v-${process.pid}-secret`, env: ['STAGE_TOKEN'] };

    const first = await runStep(executor, step({ env: { ONLY_FIRST: 'one' }, secrets: [secret], commands: ['echo "len=${#STAGE_TOKEN}"', ...leaveBehind] }));
    const onNode2 = await node2Containers(buildId);
    const second = await runStep(executor, step({ commands: findNothing }));
    const timedOut = await runStep(executor, step({ timeoutSec: 2, commands: ['sleep 300'] }));
    const failing = await runStep(executor, step({ commands: ['echo after', 'exit 3'] }));

    const viaEngine = new RegExp(
      `^bosun: the step runs in the stage's sandbox \\S+ \\(a swarm task on node ${escape(node2Named)}; docker exec through its engine ${escape(engine)}, swarm\\.nodeEngines\\)$`,
    );
    for (const r of [first, second, timedOut, failing]) {
      assert.match(r.handle.ref, /^sandbox:/, "exec'd in the sandbox");
      assert.match(r.handle.where ?? '', viaEngine);
      assert.equal(r.outcome.node?.id, nodes.node2Id);
    }
    assert.equal(first.outcome.exitCode, 0, first.out.stdout + first.out.stderr);
    assert.match(first.out.stdout, new RegExp(`^len=${secret.value.length}$`, 'm'));
    assert.equal(onNode2.length, 1, "the sandbox's container is on the second node");
    assert.equal(second.outcome.exitCode, 0, second.out.stdout + second.out.stderr);
    assert.equal(hostOf(second.out.stdout), hostOf(first.out.stdout), 'both in the one sandbox');
    assert.match(second.out.stdout, /^\[unset\] \[unset\] \[unset\]$/m);
    assert.match(second.out.stdout, /^no-leftovers$/m);
    assert.match(second.out.stdout, /^secrets=0$/m);
    assert.match(second.out.stdout, /^ws$/m);
    assert.match(second.out.stdout, /^bg-gone$/m);
    assert.equal(timedOut.outcome.reason, 'timeout');
    assert.deepEqual({ exitCode: failing.outcome.exitCode, reason: failing.outcome.reason }, { exitCode: 3, reason: undefined });
    assert.match(failing.out.stdout, /^after$/m);
    assert.equal((await sandboxServices(buildId)).length, 1, 'one sandbox served the stage');

    await executor.endStage(buildId, 'test');
    assert.deepEqual(await sandboxServices(buildId), []);
    await executor.cleanupBuild(buildId);
    assert.deepEqual(await buildServices(buildId), []);
    await waitFor('no container of the build on the second node', async () => (await node2Containers(buildId)).length === 0, 120_000);
  });

  it('after a worker crash, a step running in a sandbox on the second node is found through its engine, and removed', async (t) => {
    if (!nodes) return t.skip('no two-node swarm');
    const nodeEngines = { [nodes.node2Id]: `unix://${node2Socket}` };
    const { executor, spec } = make({ nodeEngines });
    const buildId = `mc${process.pid}`;
    const handle = await executor.start(spec(buildId, nodes.node2Id, { commands: ['echo started', 'sleep 300'] }));
    let seen = '';
    const output = collect(handle.output, (text) => (seen = text));
    const ended = handle.wait().catch(() => undefined);
    try {
      await waitFor('the step to start', () => seen.includes('started\n'), 120_000);
      assert.match(handle.ref, /^sandbox:/);

      // The worker after the crash: the exec is on the second node's engine, not this one's.
      const next = make({ nodeEngines }).executor;
      assert.equal((await next.inspectRef(handle.ref)).state, 'running');
      assert.equal((await make().executor.inspectRef(handle.ref)).state, 'gone', 'without the engine it cannot be found');
      await next.destroyRef(handle.ref);
      assert.deepEqual(await sandboxServices(buildId), [], 'its sandbox is removed');
      const another = make({ nodeEngines }).executor;
      await waitFor('the exec to be gone from the second node', async () => (await another.inspectRef(handle.ref)).state === 'gone', 60_000);
      await ended;
    } finally {
      await handle.destroy();
      await output;
    }
  });

  it("an engine in swarm.nodeEngines that answers as another node is not exec'd on: the stage runs a service per step and the log says why", async (t) => {
    if (!nodes) return t.skip('no two-node swarm');
    const hostname = node2Named.replace(/ \(.*$/, '');
    // By hostname (both test nodes share this machine's): the manager's own engine, not the second node's.
    const { executor, spec } = make({ nodeEngines: { [hostname]: 'unix:///var/run/docker.sock' } });
    const buildId = `mw${process.pid}`;

    const r = await runStep(executor, spec(buildId, nodes.node2Id, { commands: ['echo fine'] }));

    assert.equal(r.outcome.exitCode, 0, r.out.stdout + r.out.stderr);
    assert.match(r.handle.ref, /^swarm:/);
    assert.equal(r.outcome.node?.id, nodes.node2Id);
    assert.match(
      r.handle.where ?? '',
      new RegExp(`cannot exec on: its engine unix:///var/run/docker\\.sock \\(swarm\\.nodeEngines\\) is node ${nodes.managerId}, not this one$`),
    );
  });

  it('with the multi-node egress proxy (a routed egress policy), a stage on the second node runs a service per step, and the log says so', async (t) => {
    if (!nodes) return t.skip('no two-node swarm');
    const { executor, spec } = make({ egress: NetworkConfig.parse({ egress: 'internet' }), nodeEngines: { [nodes.node2Id]: `unix://${node2Socket}` } });
    const buildId = `mp${process.pid}`;

    const results = [];
    for (const line of ['one', 'two']) results.push(await runStep(executor, spec(buildId, nodes.node2Id, { commands: [`echo ${line}`] })));

    for (const [i, r] of results.entries()) {
      assert.equal(r.outcome.exitCode, 0, r.out.stdout + r.out.stderr);
      assert.match(r.out.stdout, new RegExp(`^${['one', 'two'][i]}$`, 'm'));
      assert.match(r.handle.ref, /^swarm:/);
      assert.equal(r.handle.where, 'bosun: the step runs as its own swarm service: stage sandboxes are not used with the multi-node egress proxy');
      assert.equal(r.outcome.node?.id, nodes.node2Id);
    }
    assert.deepEqual(await sandboxServices(buildId), [], 'no sandbox was started');
  });

  for (const withEngine of [false, true]) {
    it(`a build through Bosun, one stage on each node${withEngine ? ", the second node's engine configured" : ''}: each step log says which path ran`, async (t) => {
      if (!nodes) return t.skip('no two-node swarm');
      const hInstance = `mnsh${withEngine ? 'e' : 'f'}${process.pid}`;
      const dir = mkdtempSync(join(tmpdir(), 'bosun-mns-'));
      await setNodeLabel(nodes.managerId, 'bosun.sbxzone', 'a');
      await setNodeLabel(nodes.node2Id, 'bosun.sbxzone', 'b');
      const repo = await makeRepo(dir, 'app', {
        'bosun.yml': [
          'version: 1',
          `image: ${baseImage}`,
          'stages:',
          '  here:',
          '    labels: [zone-a]',
          '    steps:',
          '      - { name: one, run: [echo built > here.txt, echo "host=$(hostname)"] }',
          '      - { name: two, run: [cat here.txt, echo "host=$(hostname)"] }',
          '  there:',
          '    labels: [zone-b]',
          '    needs: [here]',
          '    steps:',
          '      - { name: one, run: [export LEAK=1, echo shipped > there.txt, echo "host=$(hostname)"] }',
          '      - { name: two, run: [cat there.txt, "echo \\"[${LEAK:-unset}]\\"", echo "host=$(hostname)"] }',
          '',
        ].join('\n'),
      });
      const nodeEngines = withEngine ? { [nodes.node2Id]: `unix://${node2Socket}` } : undefined;
      const swarm = { registry, placement: { 'zone-a': ['node.labels.bosun.sbxzone==a'], 'zone-b': ['node.labels.bosun.sbxzone==b'] } };
      const h = await startHarness(
        {
          instanceId: hInstance,
          repos: { app: { url: repo.url } },
          sandbox: 'stage',
          swarm: { ...swarm, ...(nodeEngines ? { nodeEngines } : {}) },
          limits: { killGraceSec: 2 },
        },
        {
          executor: () =>
            new SwarmExecutor({
              docker: manager,
              instanceId: hInstance,
              log: silentLogger(),
              timeoutGraceMs: 2000,
              registry,
              sandbox: 'stage',
              ...(nodeEngines ? { nodeEngines } : {}),
            }),
        },
      );
      try {
        const res = await h.api('POST', '/api/builds', { repo: 'app', ref: 'master' });
        assert.equal(res.status, 201, JSON.stringify(res.json));
        const b = await h.waitDone(res.json.build.id, 500_000);
        assert.equal(b.status, 'success', describeBuild(b));
        const ran = Object.fromEntries(b.stages.flatMap((s) => s.steps.map((st) => [`${s.name}/${st.name}`, st.node?.id])));
        assert.deepEqual(ran, { 'here/one': nodes.managerId, 'here/two': nodes.managerId, 'there/one': nodes.node2Id, 'there/two': nodes.node2Id });
        const log = async (stage: string, step: string) => String((await h.api('GET', `/api/builds/${b.id}/logs/${stage}/${step}`)).json);
        const logs = { h1: await log('here', 'one'), h2: await log('here', 'two'), t1: await log('there', 'one'), t2: await log('there', 'two') };
        for (const text of [logs.h1, logs.h2])
          assert.match(text, /^bosun: the step runs in the stage's sandbox \S+ \(a swarm task on this node; docker exec through the local engine\)$/m);
        assert.equal(hostOf(logs.h1), hostOf(logs.h2), "the first stage's steps shared its sandbox");
        assert.match(logs.h2, /^built$/m);
        assert.match(logs.t2, /^shipped$/m);
        assert.match(logs.t2, /^\[unset\]$/m);
        for (const text of [logs.t1, logs.t2]) {
          assert.match(
            text,
            withEngine
              ? new RegExp(
                  `^bosun: the step runs in the stage's sandbox \\S+ \\(a swarm task on node ${escape(node2Named)}; docker exec through its engine`,
                  'm',
                )
              : new RegExp(
                  `^bosun: the step runs as its own swarm service: the stage's sandbox landed on node ${escape(node2Named)}, which this worker cannot exec on`,
                  'm',
                ),
          );
        }
        if (withEngine) assert.equal(hostOf(logs.t1), hostOf(logs.t2), "the second stage's steps shared its sandbox");
        else assert.notEqual(hostOf(logs.t1), hostOf(logs.t2), 'a service per step');
        await waitFor('the sandboxes to go with their stages', async () => (await sandboxServices(b.id, hInstance)).length === 0, 60_000);
      } finally {
        await h.stop();
        await setNodeLabel(nodes.managerId, 'bosun.sbxzone', undefined).catch(() => undefined);
        await setNodeLabel(nodes.node2Id, 'bosun.sbxzone', undefined).catch(() => undefined);
        const cleanup = new SwarmExecutor({ docker: manager, instanceId: hInstance, log: silentLogger(), registry, sandbox: 'stage' });
        await cleanup.reapBuilds(() => false).catch(() => undefined);
        await cleanup.reap(() => false).catch(() => undefined);
        await cleanup.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('nothing is left after the builds: no service, no network, no container on the second node', async (t) => {
    if (!nodes) return t.skip('no two-node swarm');
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
    const filters = JSON.stringify({ label: [`bosun.instance=${instanceId}`] });
    let onNode2 = await node2.listContainers({ all: true, filters });
    const deadline = Date.now() + 120_000;
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

/** Names of this instance's services of a build (steps, sandboxes, proxies). */
async function buildServices(buildId: string): Promise<string[]> {
  const found = await manager.listServices({ filters: JSON.stringify({ label: [`bosun.instance=${instanceId}`, `${labelKeys.build}=${buildId}`] }) });
  return found.map((s) => s.Spec?.Name ?? s.ID);
}

/** Names of the stage sandbox services of a build. */
async function sandboxServices(buildId: string, instance = instanceId): Promise<string[]> {
  const found = await manager.listServices({
    filters: JSON.stringify({ label: [`bosun.instance=${instance}`, `${labelKeys.build}=${buildId}`, labelKeys.sandbox] }),
  });
  return found.map((s) => s.Spec?.Name ?? s.ID);
}

/** The build's containers on the second node's engine (any state). */
async function node2Containers(buildId: string): Promise<string[]> {
  const found = await node2.listContainers({
    all: true,
    filters: JSON.stringify({ label: [`bosun.instance=${instanceId}`, `${labelKeys.build}=${buildId}`] }),
  });
  return found.map((c) => c.Names[0] ?? c.Id);
}

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { SwarmExecutor } from '../../src/executor/swarm/swarm-executor.js';
import { silentLogger } from '../../src/logger.js';
import { describeBuild } from '../../commands/describe-build.js';
import type { SwarmConfig } from '../../src/config.js';
import { drain, killNode2Engine, manager, node2, registry, requireTwoNodes, setNodeLabel, watchTasks, type TwoNodes } from './two-node-support.js';

// Issue 7 on a real two-node swarm (scripts/multinode-up.sh: a second dockerd in its own
// network namespace, joined as a worker; a registry both nodes pull from). Runs in its own
// phase of scripts/test.sh, after the main suite, because it kills and drains a node.

const instanceId = `mn${process.pid}`;
const digestRef = new RegExp(`^${registry.replace(/\./g, '\\.')}/bosun-workspace@sha256:[0-9a-f]{64}$`);

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function harnessFor(dir: string, swarm: Partial<SwarmConfig>, files: Record<string, string>): Promise<Harness> {
  const repo = await makeRepo(dir, 'app', files);
  return startHarness(
    { instanceId, repos: { app: { url: repo.url } }, swarm, limits: { killGraceSec: 2 } },
    {
      executor: () =>
        new SwarmExecutor({
          docker: manager,
          instanceId,
          log: silentLogger(),
          timeoutGraceMs: 2000,
          registry,
          constraints: swarm.constraints ?? [],
          unschedulableAfterMs: (swarm.unschedulableAfterSec ?? 120) * 1000,
        }),
    },
  );
}

describe('a two-node swarm', () => {
  let nodes: TwoNodes | undefined;
  let dir = '';
  const labels: Array<[string, string]> = [];
  const label = async (id: string, key: string, value: string | undefined) => {
    await setNodeLabel(id, key, value);
    if (value !== undefined) labels.push([id, key]);
  };

  before(async () => {
    nodes = await requireTwoNodes();
    dir = mkdtempSync(join(tmpdir(), 'bosun-mn-'));
  });
  after(async () => {
    for (const [id, key] of labels) await setNodeLabel(id, key, undefined).catch(() => undefined);
    // Failed builds keep their workspace for `retry --failed`; this run's are dropped here.
    const left = await manager.listImages({ filters: JSON.stringify({ label: [`bosun.instance=${instanceId}`] }) });
    for (const image of left)
      await manager
        .getImage(image.Id)
        .remove({ force: true })
        .catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it("places a build's stages on both nodes by their labels, from images pulled by digest", async (t) => {
    if (!nodes) return t.skip('no two-node swarm');
    const { managerId, node2Id } = nodes;
    // Nobody loaded the step image on the worker node by hand: it arrives from the registry.
    const baseId = (await manager.getImage('bosun/base:bookworm').inspect()).Id;
    assert.ok(!(await node2.listImages()).some((i) => i.Id === baseId), 'node2 does not have the step image before the build');
    await label(managerId, 'bosun.zone', 'a');
    await label(node2Id, 'bosun.zone', 'b');
    const h = await harnessFor(
      dir,
      { registry, placement: { 'zone-a': ['node.labels.bosun.zone==a'], 'zone-b': ['node.labels.bosun.zone==b'] } },
      {
        'README.md': 'hello from the checkout\n',
        'bosun.yml': [
          'version: 1',
          'image: bosun/base:bookworm',
          'stages:',
          '  build:',
          '    labels: [zone-a]',
          '    steps:',
          '      - name: compile',
          '        run: [grep -q "hello from the checkout" README.md, echo built > out-a.txt, sleep 1]',
          '  ship:',
          '    labels: [zone-b]',
          '    needs: [build]',
          '    steps:',
          '      - name: package',
          '        run: [grep -q "hello from the checkout" README.md, echo packaged > out-b.txt, sleep 1]',
          '      - name: check',
          '        run: [cat out-b.txt, sleep 1]',
          '',
        ].join('\n'),
      },
    );
    const watch = watchTasks(instanceId);
    try {
      const res = await h.api('POST', '/api/builds', { repo: 'app', ref: 'master' });
      assert.equal(res.status, 201, JSON.stringify(res.json));
      const startedAt = Date.now();
      const b = await h.waitDone(res.json.build.id, 240_000);
      assert.equal(b.status, 'success', describeBuild(b));
      t.diagnostic(`three steps over two nodes, trigger → success: ${Date.now() - startedAt} ms`);

      // The build record says where each step ran, and the swarm's tasks agree.
      const ran = Object.fromEntries(b.stages.flatMap((s) => s.steps.map((st) => [`${s.name}/${st.name}`, st.node?.id])));
      assert.deepEqual(ran, { 'build/compile': managerId, 'ship/package': node2Id, 'ship/check': node2Id });
      const tasks = [...watch.seen.values()].filter((x) => x.labels['bosun.build'] === b.id);
      const taskNodes = Object.fromEntries(tasks.map((x) => [`${x.labels['bosun.stage']}/${x.labels['bosun.step']}`, x.nodeId]));
      assert.deepEqual(taskNodes, ran, 'the tasks ran where the build record says');
      assert.deepEqual(new Set(tasks.map((x) => x.nodeId)), new Set([managerId, node2Id]), 'steps landed on both nodes');
      for (const task of tasks) assert.match(task.image, digestRef, 'each step runs from a registry image by digest');

      // The second step of `ship` read what the first wrote: same node, same workspace.
      const log = await h.api('GET', `/api/builds/${b.id}/logs/ship/check`);
      assert.match(log.json, /packaged/);
      // The worker node pulled the step image (as the workspace image's layers) by digest.
      const pulled = await node2.listImages();
      assert.ok(
        pulled.some((i) => (i.RepoDigests ?? []).some((d) => tasks.some((x) => x.image === d))),
        'node2 holds the image it pulled by digest',
      );

      // Cleanup once the build finished: node2's copy of the workspace is emptied (its volume
      // is out of the manager's reach), the workspace images leave the manager and the registry.
      const volume = await node2.getVolume(`bosun-${instanceId}-ws-${b.id}`).inspect();
      await until(() => readdirSync(volume.Mountpoint).length === 0, 90_000, `node2's workspace volume is emptied (${volume.Mountpoint})`);
      await until(
        async () => (await manager.listImages({ filters: JSON.stringify({ label: [`bosun.build=${b.id}`, `bosun.instance=${instanceId}`] }) })).length === 0,
        30_000,
        'workspace images removed on the manager',
      );
      for (const image of new Set(tasks.map((x) => x.image))) {
        const res = await fetch(`http://${registry}/v2/bosun-workspace/manifests/${image.split('@')[1]}`, {
          headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
        });
        assert.equal(res.status, 404, `the registry deleted ${image}`);
      }
    } finally {
      watch.stop();
      await h.stop();
    }
  });

  it('fails a step whose node is drained as infrastructure, with one task, and the node serves again after', async (t) => {
    if (!nodes) return t.skip('no two-node swarm');
    const { node2Id } = nodes;
    await label(node2Id, 'bosun.pool', 'drain-test');
    const h = await harnessFor(
      dir,
      { registry, constraints: ['node.labels.bosun.pool==drain-test'] },
      {
        'bosun.yml': [
          'version: 1',
          'image: bosun/base:bookworm',
          'stages:',
          '  long:',
          '    steps:',
          '      - name: soak',
          '        run: [echo started, sleep 600]',
          '',
        ].join('\n'),
      },
    );
    const watch = watchTasks(instanceId);
    try {
      const res = await h.api('POST', '/api/builds', { repo: 'app', ref: 'master' });
      const id = res.json.build.id as string;
      const soak = () => [...watch.seen.values()].filter((x) => x.labels['bosun.build'] === id);
      await until(() => soak().some((x) => x.state === 'running'), 120_000, "the step's task runs");
      assert.equal(soak()[0]?.nodeId, node2Id);

      await drain(node2Id, 'drain');
      const drainedAt = Date.now();
      const failed = await h.waitDone(id, 120_000);
      t.diagnostic(`node2 drained → step failed_infra: ${Date.now() - drainedAt} ms`);
      const step = failed.stages[0]!.steps[0]!;
      assert.equal(failed.status, 'failed_infra', describeBuild(failed));
      assert.equal(step.reason, 'node_lost');
      assert.match(step.detail ?? '', /was set to drain while the step ran/);
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal(soak().length, 1, 'Swarm did not start the step again anywhere');
    } finally {
      await drain(node2Id, 'active');
      watch.stop();
      await h.stop();
    }
  });

  it('fails a step no node can take after the placement wait, saying which constraints', async (t) => {
    if (!nodes) return t.skip('no two-node swarm');
    const h = await harnessFor(
      dir,
      { registry, constraints: ['node.labels.bosun.pool==nowhere'], unschedulableAfterSec: 2 },
      {
        'bosun.yml': ['version: 1', 'image: bosun/base:bookworm', 'stages:', '  test:', '    steps:', '      - name: unit', '        run: echo never', ''].join(
          '\n',
        ),
      },
    );
    const watch = watchTasks(instanceId);
    try {
      const res = await h.api('POST', '/api/builds', { repo: 'app', ref: 'master' });
      const b = await h.waitDone(res.json.build.id, 120_000);
      const step = b.stages[0]!.steps[0]!;
      assert.equal(b.status, 'failed_infra', describeBuild(b));
      assert.equal(step.reason, 'unschedulable');
      assert.match(step.detail ?? '', /no suitable node.*constraints: node\.labels\.bosun\.pool==nowhere/);
      assert.match(describeBuild(b), /unit: failed_infra \(not scheduled: no node could take it for 2 s/);
      const tasks = [...watch.seen.values()].filter((x) => x.labels['bosun.build'] === b.id);
      assert.equal(tasks.length, 1, 'one task, seen');
      assert.ok(
        tasks.every((x) => x.state === 'pending'),
        `the task never left pending: ${JSON.stringify(tasks)}`,
      );
      const left = await manager.listServices({ filters: JSON.stringify({ label: [`bosun.build=${b.id}`, `bosun.instance=${instanceId}`] }) });
      assert.deepEqual(left, [], 'its service was removed');
    } finally {
      watch.stop();
      await h.stop();
    }
  });

  it('fails a step whose node dies as infrastructure, never re-runs it, and a retry passes on the live node', async (t) => {
    if (!nodes) return t.skip('no two-node swarm');
    const { managerId, node2Id } = nodes;
    // Only node2 is in the `ci` pool at first, so the step lands there.
    await label(node2Id, 'bosun.pool', 'ci');
    const h = await harnessFor(
      dir,
      { registry, constraints: ['node.labels.bosun.pool==ci'] },
      {
        'bosun.yml': [
          'version: 1',
          'image: bosun/base:bookworm',
          'stages:',
          '  long:',
          '    steps:',
          // `prepare` leaves a file in the workspace of the node it ran on; `soak` sleeps while it
          // sees it. The retry lands on the manager, whose workspace is a fresh checkout: it passes.
          '      - name: prepare',
          '        run: touch prepared',
          '      - name: soak',
          '        run: [echo started, "if [ -f prepared ]; then sleep 600; fi", echo finished]',
          '',
        ].join('\n'),
      },
    );
    const watch = watchTasks(instanceId);
    try {
      const res = await h.api('POST', '/api/builds', { repo: 'app', ref: 'master' });
      const id = res.json.build.id as string;
      await h.waitFor(id, (b) => b.stages[0]?.steps[1]?.status === 'running', 120_000);
      const soak = () => [...watch.seen.values()].filter((x) => x.labels['bosun.build'] === id && x.labels['bosun.step'] === 'soak');
      await until(() => soak().some((x) => x.state === 'running'), 60_000, "the step's task runs");
      assert.equal(soak()[0]?.nodeId, node2Id, 'the step runs on node2');

      const killedAt = Date.now();
      killNode2Engine();
      const failed = await h.waitDone(id, 120_000);
      t.diagnostic(`node2's dockerd killed → step failed_infra: ${Date.now() - killedAt} ms`);
      assert.equal(failed.status, 'failed_infra', describeBuild(failed));
      const step = failed.stages[0]!.steps[1]!;
      assert.equal(step.status, 'failed_infra');
      assert.equal(step.reason, 'node_lost');
      assert.match(step.detail ?? '', new RegExp(`node .*\\(${node2Id.slice(0, 12)}\\) went down`));
      assert.equal(step.runs, 1);
      // Give Swarm time to (wrongly) reschedule, then check: exactly one task ever existed.
      await new Promise((r) => setTimeout(r, 3000));
      assert.equal(soak().length, 1, `tasks for the step: ${JSON.stringify(soak())}`);
      const left = await manager.listServices({ filters: JSON.stringify({ label: [`bosun.build=${id}`, `bosun.instance=${instanceId}`] }) });
      assert.deepEqual(
        left.map((s) => s.Spec?.Name),
        [],
        'the step service was removed',
      );
      const log = await h.api('GET', `/api/builds/${id}/logs/long/soak`);
      assert.match(log.json, /went down while the step ran; the step failed for an infrastructure reason/);
      assert.match(describeBuild(failed), /soak: failed_infra \(node lost: node .* went down while the step ran\)/);

      // The manager joins the pool; the retry runs the failed step there and passes.
      await label(managerId, 'bosun.pool', 'ci');
      const retriedAt = Date.now();
      const retry = await h.api('POST', `/api/builds/${id}/retry`, { fromFailed: true });
      assert.equal(retry.status, 200, JSON.stringify(retry.json));
      const passed = await h.waitDone(id, 180_000);
      t.diagnostic(`retry → build success on the manager: ${Date.now() - retriedAt} ms`);
      assert.equal(passed.status, 'success', describeBuild(passed));
      const retried = passed.stages[0]!.steps[1]!;
      assert.equal(retried.runs, 2);
      assert.equal(retried.node?.id, managerId, 'the retry ran on the live node');
      assert.equal(passed.stages[0]!.steps[0]!.runs, 1, 'the step that passed was not run again');
    } finally {
      watch.stop();
      await h.stop();
    }
  });
});

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type Docker from 'dockerode';
import { silentLogger } from '../../src/logger.js';
import { labelKeys, type StepSpec } from '../../src/executor/executor.js';
import { DockerExecutor } from '../../src/executor/docker/docker-executor.js';
import { poolLabelKeys } from '../../src/executor/container/pool-names.js';
import { runExecutorContract, runIsolationContract } from './contract.js';
import { collect, greeter, hostAddresses, makeSpec, makeWorkspace, runId, runStep, waitFor, type ContractHarness } from './contract-support.js';
import { baseImage, buildResources, busyboxImage, containerIsolation, containerOfRef, engineForTests, sweepInstance } from './docker-harness.js';
import { runStageContract } from './stage-contract.js';

/**
 * The warm pool (docs/pool.md) on the docker executor with `sandbox: stage`: the executor,
 * isolation and stage contracts on a pooled executor (`dpool`), and what the pool promises
 * beyond them: a claimed sandbox is a build's alone, isolated like any, and the pool's leftovers
 * go with `close` and the reaper.
 */
const docker = await engineForTests(false);
/** The limits of `makeSpec` (the pool's: a claim needs them equal). */
const specLimits = { cpus: 1, memoryBytes: 128 * 2 ** 20, pids: 256 };
/** An instance of this file's own: pool entries of other suites' executors are never ours. */
const instanceId = `tpool-${runId}`;
const warmLine = /^bosun: the step runs in a warm sandbox \S+ \(claimed from the pool\)$/;

/** A pooled executor whose `start` remembers under which key each build's resources live. */
function pooled(engine: Docker, size: number, opts: { instance?: string; images?: string[] } = {}) {
  const executor = new DockerExecutor({
    docker: engine,
    instanceId: opts.instance ?? instanceId,
    log: silentLogger(),
    timeoutGraceMs: 2000,
    sandbox: 'stage',
    pool: { size, images: opts.images ?? [busyboxImage], idleSec: 600, limits: specLimits },
  });
  const keys = new Map<string, string>();
  const proxy = new Proxy(executor, {
    get(target, prop) {
      if (prop === 'start') {
        return async (spec: StepSpec) => {
          const handle = await target.start(spec);
          keys.set(spec.buildId, await target.workspaceKey(spec.buildId));
          return handle;
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  }) as DockerExecutor;
  return { executor: proxy, raw: executor, keys };
}

/** Containers of a build's stage: those labelled with it, and the warm sandbox it claimed (labelled with the key). */
async function stageContainers(engine: Docker, buildId: string, key: string | undefined): Promise<Docker.ContainerInfo[]> {
  const byBuild = await engine.listContainers({ all: true, filters: JSON.stringify({ label: [`${labelKeys.build}=${buildId}`] }) });
  const byKey = key && key !== buildId ? await engine.listContainers({ all: true, filters: JSON.stringify({ label: [`${poolLabelKeys.key}=${key}`] }) }) : [];
  return [...byBuild.filter((c) => c.Labels['bosun.role'] === undefined), ...byKey];
}

/** Processes of the step user left in the build's sandboxes (as `stepProcesses`, claimed ones included). */
async function leftProcesses(engine: Docker, buildId: string, key: string | undefined): Promise<string[]> {
  const left: string[] = [];
  for (const c of await stageContainers(engine, buildId, key)) {
    if (c.Labels[labelKeys.sandbox] === undefined) {
      left.push(c.Names[0] ?? c.Id);
      continue;
    }
    if (c.State !== 'running') continue;
    const top = (await engine
      .getContainer(c.Id)
      .top({ ps_args: '-o pid,uid,args' })
      .catch(() => undefined)) as { Titles?: string[]; Processes?: string[][] } | undefined;
    const uid = top?.Titles?.indexOf('UID') ?? -1;
    for (const p of top?.Processes ?? []) if (uid >= 0 && p[uid] === '1000') left.push(`${c.Names[0] ?? c.Id}: ${p.join(' ')}`);
  }
  return left;
}

/** Everything of this instance still on the engine (containers, networks, volumes), by label. */
async function instanceLeft(engine: Docker, instance: string): Promise<string[]> {
  const label = JSON.stringify({ label: [`${labelKeys.instance}=${instance}`] });
  const containers = await engine.listContainers({ all: true, filters: label });
  const networks = await engine.listNetworks({ filters: label });
  const { Volumes: volumes } = await engine.listVolumes({ filters: label });
  return [
    ...containers.map((c) => `container ${c.Names[0] ?? c.Id}`),
    ...networks.map((n) => `network ${n.Name}`),
    ...(volumes ?? []).map((v) => `volume ${v.Name}`),
  ];
}

if (docker) {
  const engine = docker;
  const made: DockerExecutor[] = [];
  const makeHarness = async (): Promise<ContractHarness & { sharesSandbox: boolean; sandboxes(buildId: string): Promise<string[]> }> => {
    const { executor, raw, keys } = pooled(engine, 2);
    made.push(raw);
    return {
      executor,
      image: busyboxImage,
      baseImage,
      enforcesMemory: true,
      perBuildResources: true,
      reattaches: false,
      knowsExitWithoutReattach: true,
      sharesSandbox: true,
      reapBuilds: (isLive) => executor.reapBuilds(isLive),
      stepResources: (buildId) => leftProcesses(engine, buildId, keys.get(buildId)),
      buildResources: async (buildId) => {
        const key = keys.get(buildId);
        return [...(await buildResources(engine, buildId)), ...(key && key !== buildId ? await buildResources(engine, key) : [])];
      },
      sandboxes: async (buildId) =>
        (await stageContainers(engine, buildId, keys.get(buildId))).filter((c) => c.Labels[labelKeys.sandbox] !== undefined).map((c) => c.Names[0] ?? c.Id),
      inspectIsolation: (ref) => containerIsolation(engine, containerOfRef(ref)),
      close: async () => {
        await raw.close();
      },
    };
  };
  after(async () => {
    for (const e of made) await e.close();
    await sweepInstance(engine, instanceId);
  });
  runExecutorContract('dpool', makeHarness);
  runIsolationContract('dpool', makeHarness);
  runStageContract('dpool', makeHarness);
}

if (docker) {
  const engine = docker;
  describe('docker warm pool (docs/pool.md)', { timeout: 400_000 }, () => {
    const closers: (() => Promise<void>)[] = [];
    after(async () => {
      for (const close of closers) await close().catch(() => undefined);
      await sweepInstance(engine, instanceId);
    });

    it(
      'a build claims a ready sandbox: its first step runs there, isolated (CapEff 0, read-only root, no route to the host), on the entry network and volume',
      { timeout: 180_000 },
      async () => {
        const { executor, raw, keys } = pooled(engine, 1);
        closers.push(() => raw.close());
        await waitFor('the pool to be ready', () => raw.warmPool?.readyCount === 1, 90_000);
        const workspace = makeWorkspace();
        const buildId = `w${runId}`;
        closers.push(() => raw.cleanupBuild(buildId));
        const server = await greeter();
        closers.push(() => server.close());
        const probes = hostAddresses().map((ip) => `nc -w 2 ${ip} ${server.port} </dev/null || true`);
        const spec = (over: Partial<StepSpec>) => makeSpec({ workspace, image: busyboxImage, buildId }, over);

        const handle = await executor.start(
          spec({
            commands: [
              'grep -E "^Cap(Eff|Bnd)" /proc/self/status',
              'id -u',
              'touch /evil 2>/dev/null && echo ROOT-WRITABLE || echo root-read-only',
              'cat README',
              'echo mine > mine.txt',
              ...probes,
              'echo probes-done',
            ],
          }),
        );
        const [outcome, out] = await Promise.all([handle.wait(), collect(handle.output)]);
        const facts = await containerIsolation(engine, containerOfRef(handle.ref));
        const container = await engine.getContainer(containerOfRef(handle.ref)).inspect();
        await handle.destroy();

        assert.equal(outcome.exitCode, 0, out.stdout + out.stderr);
        assert.match(handle.where ?? '', warmLine);
        const key = keys.get(buildId);
        assert.match(key ?? '', /^pool-[0-9a-f]{12}$/, 'the build adopted the entry');
        assert.equal(container.Config.Labels?.[poolLabelKeys.key], key);
        assert.match(out.stdout, /^CapEff:\s+0000000000000000$/m);
        assert.match(out.stdout, /^CapBnd:\s+0000000000000000$/m);
        assert.match(out.stdout, /^1000$/m);
        assert.match(out.stdout, /^root-read-only$/m);
        assert.match(out.stdout, /^the checkout$/m, 'the workspace went in at claim time');
        assert.match(out.stdout, /^probes-done$/m);
        assert.doesNotMatch(out.stdout, /HELLO-BOSUN/);
        assert.equal(server.connections, 0);
        assert.equal(facts.readonlyRootfs, true);
        assert.deepEqual(facts.capDrop, ['ALL']);
        assert.ok(facts.networksInternal.every(Boolean), 'the entry network is the build network (internal: egress none)');

        // A later stage of the build: a sandbox of its own, on the adopted network and volume.
        const later = await runStep(executor, spec({ stage: 'later', commands: ['cat mine.txt'] }));
        assert.equal(later.out.stdout.trim().split('\n').pop(), 'mine');
        assert.doesNotMatch(later.handle.where ?? '', /warm sandbox/);
        await raw.endStage(buildId, 'test');
        await raw.endStage(buildId, 'later');
      },
    );

    it('20 builds at once: none shares a sandbox, network or volume with another; each sees only its own marker', { timeout: 300_000 }, async () => {
      const { executor, raw } = pooled(engine, 3);
      closers.push(() => raw.close());
      await waitFor('the pool to be ready', () => raw.warmPool?.readyCount === 3, 120_000);
      const workspace = makeWorkspace();
      const builds = Array.from({ length: 20 }, (_, i) => `m${runId}${i}`);
      for (const b of builds) closers.push(() => raw.cleanupBuild(b));

      const results = await Promise.all(
        builds.map(async (buildId) => {
          const spec = (over: Partial<StepSpec>) => makeSpec({ workspace, image: busyboxImage, buildId }, over);
          const write = await runStep(executor, spec({ commands: [`echo ${buildId} > marker.txt`, 'hostname'] }));
          const read = await runStep(executor, spec({ commands: ['cat marker.txt', 'ls marker*', 'hostname'] }));
          const container = await engine.getContainer(containerOfRef(read.handle.ref)).inspect();
          const networks = Object.keys(container.NetworkSettings.Networks ?? {});
          const volumes = (container.Mounts ?? []).filter((m) => m.Type === 'volume').map((m) => m.Name ?? '');
          return { buildId, write, read, networks, volumes, container: container.Id };
        }),
      );

      for (const r of results) {
        assert.equal(r.write.outcome.exitCode, 0, r.write.out.stderr);
        assert.equal(r.read.outcome.exitCode, 0, r.read.out.stderr);
        assert.match(r.read.out.stdout, new RegExp(`^${r.buildId}$`, 'm'), `${r.buildId} reads its own marker`);
        assert.match(r.read.out.stdout, /^marker\.txt$/m);
        assert.equal(r.write.out.stdout.trim().split('\n').pop(), r.read.out.stdout.trim().split('\n').pop(), 'both steps in the stage sandbox');
      }
      const owners = (pick: (r: (typeof results)[number]) => string[]) => {
        const seen = new Map<string, string>();
        for (const r of results)
          for (const v of pick(r)) {
            assert.ok(!seen.has(v) || seen.get(v) === r.buildId, `${v} used by ${seen.get(v)} and ${r.buildId}`);
            seen.set(v, r.buildId);
          }
      };
      owners((r) => [r.container]);
      owners((r) => r.networks);
      owners((r) => r.volumes);
      assert.ok(
        results.some((r) => warmLine.test(r.write.handle.where ?? '')),
        'some builds ran in a claimed sandbox',
      );
      assert.ok(results.every((r) => r.volumes.length === 1 && r.networks.length === 1));
    });

    it('two executors (two worker processes) starting the same build at once agree on one network and volume; one claims', { timeout: 180_000 }, async () => {
      const a = pooled(engine, 1);
      const b = pooled(engine, 1);
      closers.push(
        () => a.raw.close(),
        () => b.raw.close(),
      );
      await waitFor('both pools to be ready', () => a.raw.warmPool?.readyCount === 1 && b.raw.warmPool?.readyCount === 1, 90_000);
      const workspace = makeWorkspace();
      const buildId = `two${runId}`;
      closers.push(() => a.raw.cleanupBuild(buildId));
      const spec = (stage: string) => makeSpec({ workspace, image: busyboxImage, buildId }, { stage, commands: [`echo ${stage} > ${stage}.txt`] });

      const [one, two] = await Promise.all([runStep(a.executor, spec('one')), runStep(b.executor, spec('two'))]);
      const later = await runStep(a.executor, makeSpec({ workspace, image: busyboxImage, buildId }, { stage: 'three', commands: ['cat one.txt two.txt'] }));

      assert.deepEqual([one.outcome.exitCode, two.outcome.exitCode], [0, 0]);
      assert.equal(await a.raw.workspaceKey(buildId), await b.raw.workspaceKey(buildId));
      assert.equal([one, two].filter((r) => warmLine.test(r.handle.where ?? '')).length, 1, JSON.stringify([one.handle.where, two.handle.where]));
      assert.match(later.out.stdout, /^one\ntwo$/m, 'both stages wrote into the one workspace');
      await a.raw.endStage(buildId, 'one');
      await a.raw.endStage(buildId, 'three');
      await b.raw.endStage(buildId, 'two');
    });

    it('close removes the sandboxes nobody claimed', { timeout: 180_000 }, async () => {
      const instance = `tpoolc-${runId}`;
      closers.push(() => sweepInstance(engine, instance));
      const first = pooled(engine, 2, { instance });
      await waitFor('the pool to be ready', () => first.raw.warmPool?.readyCount === 2, 90_000);
      assert.ok((await instanceLeft(engine, instance)).length > 0);

      await first.raw.close();

      await waitFor('nothing of the pool to be left', async () => (await instanceLeft(engine, instance)).length === 0, 60_000);
    });
  });
}

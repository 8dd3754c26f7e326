import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { DockerExecutor } from '../../src/executor/docker/docker-executor.js';
import { SwarmExecutor } from '../../src/executor/swarm/swarm-executor.js';
import type { Executor } from '../../src/executor/executor.js';
import { remoteVolumeTar, volumeTar } from '../../src/executor/workspace-files.js';
import { collectOutputs } from '../../src/artifacts/collect-outputs.js';
import { DataDirArtifactStore } from '../../src/artifacts/artifact-store.js';
import { GlobSet } from '../../src/artifacts/glob-match.js';
import { silentLogger } from '../../src/logger.js';
import { baseImage, engineForTests, sweepInstance, testInstanceId } from '../executor/docker-harness.js';

// Artifacts and reports are read out of the build's workspace volume on the container
// executors (docker, swarm on one node), whatever the steps left there.
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const engine = await engineForTests(true);
const executors: { name: string; make(): Executor }[] = engine
  ? [
      { name: 'docker', make: () => new DockerExecutor({ docker: engine, instanceId: testInstanceId, log: silentLogger(), timeoutGraceMs: 2000 }) },
      { name: 'swarm', make: () => new SwarmExecutor({ docker: engine, instanceId: testInstanceId, log: silentLogger(), timeoutGraceMs: 2000 }) },
      // `sandbox: stage` (docs/sandbox.md): the steps exec'd in their stage's sandbox, on the same workspace volume.
      {
        name: 'docker-sbx',
        make: () => new DockerExecutor({ docker: engine, instanceId: testInstanceId, log: silentLogger(), timeoutGraceMs: 2000, sandbox: 'stage' }),
      },
      {
        name: 'swarm-sbx',
        make: () => new SwarmExecutor({ docker: engine, instanceId: testInstanceId, log: silentLogger(), timeoutGraceMs: 2000, sandbox: 'stage' }),
      },
    ]
  : [];

after(async () => {
  if (engine) await sweepInstance(engine, testInstanceId).catch(() => undefined);
});

for (const e of executors) {
  describe(`artifacts on the ${e.name} executor`, () => {
    let h: Harness | undefined;
    after(async () => {
      await h?.stop();
    });
    it('keeps a file the step wrote, refuses a symlink to /etc/passwd, and a later stage sees the file', async () => {
      h = await startHarness({ instanceId: testInstanceId }, { executor: () => e.make() });
      const name = `art-${e.name}`;
      const repo = await makeRepo(h.dataDir, name, {
        'bosun.yml': [
          'version: 1',
          `image: ${baseImage}`,
          'stages:',
          '  build:',
          '    artifacts: [dist/**]',
          '    steps:',
          '      - name: make',
          '        run: [mkdir -p dist, printf wheel > dist/app.whl, ln -s /etc/passwd dist/passwd]',
          '  check:',
          '    needs: [build]',
          '    steps:',
          '      - name: see',
          '        run: [cat dist/app.whl]',
          '',
        ].join('\n'),
      });
      h.server.core.config.repos[name] = { url: repo.url, defaultBranch: 'master', secrets: [] };
      const res = await h.api('POST', '/api/builds', { repo: name, ref: 'master' });
      const id = res.json.build.id as string;
      const b = await h.waitDone(id, 120_000);
      const log = String((await h.api('GET', `/api/builds/${id}/logs/build/make`)).json);
      assert.equal(b.status, 'success', log);
      assert.deepEqual(
        b.artifacts?.map((f) => [f.path, f.sha256]),
        [['dist/app.whl', sha('wheel')]],
      );
      assert.match(log, /dist\/passwd is a symlink \(to \/etc\/passwd\): not read/);
      assert.match(String((await h.api('GET', `/api/builds/${id}/logs/check/see`)).json), /wheel/);
    });
  });
}

if (engine) {
  it('through a helper container (Bosun not root on the engine host) and through a one-shot service on the node: the same files', async () => {
    const docker = new DockerExecutor({ docker: engine, instanceId: testInstanceId, log: silentLogger(), timeoutGraceMs: 2000 });
    const h = await startHarness({ instanceId: testInstanceId }, { executor: () => docker });
    try {
      const name = 'art-helper';
      const repo = await makeRepo(h.dataDir, name, {
        'bosun.yml': [
          'version: 1',
          `image: ${baseImage}`,
          'stages:',
          '  build:',
          '    steps:',
          '      - name: make',
          '        run: [mkdir -p out, printf abc > out/a.txt, ln -s /etc/passwd out/p, exit 1]',
          '',
        ].join('\n'),
      });
      h.server.core.config.repos[name] = { url: repo.url, defaultBranch: 'master', secrets: [] };
      const id = (await h.api('POST', '/api/builds', { repo: name, ref: 'master' })).json.build.id as string;
      // A failed build keeps its workspace volume (for `retry --failed`): read it after the build.
      const b = await h.waitDone(id, 120_000);
      assert.equal(b.status, 'failed');
      const globs = new GlobSet(['out/**']);
      const tar = await volumeTar(
        engine,
        testInstanceId,
        { buildId: id, workspace: '', image: baseImage, wants: (p, d) => (d ? globs.mayContain(p) : globs.matches(p)) },
        { direct: false },
      );
      assert.equal(tar.prefix, 'workspace');
      const result = await collectOutputs(new DataDirArtifactStore(h.dataDir), tar, {
        repo: name,
        buildId: `${id}-helper`,
        stage: 'build',
        step: 'make',
        artifacts: ['out/**'],
        reports: [],
        keptBytes: 0,
        caps: { maxFileBytes: 1024, maxBuildBytes: 4096, maxReportBytes: 1024 },
      });
      assert.deepEqual(
        result.artifacts.map((f) => [f.path, f.sha256]),
        [['out/a.txt', sha('abc')]],
      );
      assert.ok(
        result.notes.some((n) => /out\/p is a symlink/.test(n)),
        result.notes.join('\n'),
      );

      // The other-node route (a one-shot service pinned to the node, tar | base64 in its log),
      // run here on this node: the same files; past its byte limit, a clear error.
      const nodeId = ((await engine.info()) as { Swarm?: { NodeID?: string } }).Swarm?.NodeID ?? '';
      const wants = (p: string, d: boolean) => (d ? globs.mayContain(p) : globs.matches(p));
      const remote = await remoteVolumeTar(engine, testInstanceId, {
        buildId: id,
        workspace: '',
        image: baseImage,
        node: { id: nodeId, hostname: 'here' },
        wants,
      });
      const viaService = await collectOutputs(
        new DataDirArtifactStore(h.dataDir),
        { stream: remote },
        {
          repo: name,
          buildId: `${id}-remote`,
          stage: 'build',
          step: 'make',
          artifacts: ['out/**'],
          reports: [],
          keptBytes: 0,
          caps: { maxFileBytes: 1024, maxBuildBytes: 4096, maxReportBytes: 1024 },
        },
      );
      assert.deepEqual(
        viaService.artifacts.map((f) => [f.path, f.sha256]),
        [['out/a.txt', sha('abc')]],
      );
      await assert.rejects(
        remoteVolumeTar(engine, testInstanceId, { buildId: id, workspace: '', image: baseImage, node: { id: nodeId, hostname: 'here' }, wants, maxBytes: 100 }),
        /larger than 100 bytes/,
      );
    } finally {
      await h.stop(); // the file's `after` sweeps this instance's volumes
    }
  });
}

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { DockerExecutor } from '../../src/executor/docker/docker-executor.js';
import { createBuild } from '../../src/pipeline/create-build.js';
import { silentLogger } from '../../src/logger.js';
import { labelKeys } from '../../src/executor/executor.js';
import { busyboxImage, engineForTests, sweepInstance } from '../executor/docker-harness.js';
import { runId, waitFor } from '../executor/contract-support.js';
import type { Build } from '../../src/domain/build.js';
import type { StepSpec } from '../../src/executor/executor.js';

// docs/pool.md, through the whole pipeline: a build's first stage claims a warm sandbox and says
// so in its step log; its later stage (a sandbox of its own) works in the same workspace on the
// adopted network and volume; a build whose bosun.yml narrows the network runs cold and says why;
// once a build ended, nothing of what it claimed is left.
const docker = await engineForTests(false);
const instanceId = `tpoolp-${runId}`;

if (docker) {
  const engine: Docker = docker;
  describe('a pipeline on a pooled docker executor', { timeout: 400_000 }, () => {
    let h: Harness;
    let executor: DockerExecutor;
    const keys = new Map<string, string>();
    const repoName = 'pooled';

    before(async () => {
      h = await startHarness(
        { instanceId, executor: 'docker', sandbox: 'stage', network: { egress: 'none' } },
        {
          executor: () => {
            executor = new DockerExecutor({
              docker: engine,
              instanceId,
              log: silentLogger(),
              timeoutGraceMs: 2000,
              sandbox: 'stage',
              // The harness's limits (server defaults): a claim needs the pool's equal.
              pool: { size: 1, images: [busyboxImage], idleSec: 600, limits: { cpus: 1, memoryBytes: 1024 * 2 ** 20, pids: 512 } },
            });
            // Each build's key, as its steps start (a finished build is cleaned up 3 s later, its marker with it).
            return new Proxy(executor, {
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
            });
          },
        },
      );
      const repo = await makeRepo(h.dataDir, repoName, {
        'bosun.yml': [
          'version: 1',
          `image: ${busyboxImage}`,
          'stages:',
          '  make:',
          '    steps:',
          '      - name: write',
          '        run: [echo made-in-make > made.txt]',
          '  check:',
          '    needs: [make]',
          '    steps:',
          '      - name: read',
          '        run: [cat made.txt]',
          '',
        ].join('\n'),
        'narrow.txt': 'x\n',
      });
      h.server.core.config.repos[repoName] = { url: repo.url, defaultBranch: 'master', secrets: [] };
      await repo.commit(
        {
          'bosun.yml': [
            'version: 1',
            `image: ${busyboxImage}`,
            'network: { deny: [192.0.2.0/24] }',
            'stages:',
            '  test:',
            '    steps:',
            '      - name: only',
            '        run: [echo cold]',
            '',
          ].join('\n'),
        },
        'narrowed',
        'narrowed',
      );
    });
    after(async () => {
      await h?.stop();
      await sweepInstance(engine, instanceId);
    });

    const run = async (ref: string): Promise<Build> => {
      await waitFor('the pool to be ready', () => executor.warmPool?.readyCount === 1, 90_000);
      const { build } = await createBuild(h.server.core.deps, {
        repo: repoName,
        ref,
        trigger: { event: 'push', source: 'github', actor: { id: 'github:5', name: 'someone' } },
      });
      return h.waitDone(build!.id, 240_000);
    };
    const log = async (b: Build, stage: string, step: string): Promise<string> =>
      String((await h.api('GET', `/api/builds/${b.id}/logs/${stage}/${step}`)).json);

    it('the first stage runs in a claimed warm sandbox; the next stage sees its workspace; nothing is left once the build ended', async () => {
      const done = await run('master');

      assert.equal(done.status, 'success', JSON.stringify(done.stages, null, 1));
      assert.match(await log(done, 'make', 'write'), /bosun: the step runs in a warm sandbox \S+ \(claimed from the pool\)/);
      const check = await log(done, 'check', 'read');
      assert.match(check, /^made-in-make$/m);
      assert.match(check, /bosun: the step runs in the stage's sandbox \S+ \(docker exec\)/);
      const key = keys.get(done.id) ?? '';
      assert.match(key, /^pool-[0-9a-f]{12}$/, 'the build adopted the entry it claimed');
      await executor.cleanupBuild(done.id);
      // The claim marker carries the build's label; the adopted network, volume and sandbox the entry's key.
      const left = async (): Promise<string[]> => {
        const names: string[] = [];
        for (const label of [`${labelKeys.build}=${done.id}`, `${labelKeys.build}=${key}`, `bosun.pool.key=${key}`]) {
          const filters = JSON.stringify({ label: [`${labelKeys.instance}=${instanceId}`, label] });
          names.push(...(await engine.listNetworks({ filters })).map((n) => `network ${n.Name}`));
          names.push(...((await engine.listVolumes({ filters })).Volumes ?? []).map((v) => `volume ${v.Name}`));
          names.push(...(await engine.listContainers({ all: true, filters })).map((c) => `container ${c.Names[0]}`));
        }
        return names;
      };
      await waitFor('the build’s resources to go', async () => (await left()).length === 0, 60_000).catch(async () => assert.deepEqual(await left(), []));
    });

    it('a build whose bosun.yml narrows the network runs cold, and its log says why', async () => {
      const done = await run('narrowed');

      assert.equal(done.status, 'success', JSON.stringify(done.stages, null, 1));
      assert.match(
        await log(done, 'test', 'only'),
        /bosun: the step runs in the stage's sandbox \S+ \(docker exec\); not from the warm pool: its bosun\.yml narrows the network policy/,
      );
    });
  });
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeRepo } from '../support/git-repo.js';
import { requireDocker } from '../support/require-docker.js';
import { startRedis } from '../support/redis-server.js';
import { startWorkerProcess, stopProcess } from '../support/worker-process.js';
import { labelKeys } from '../../src/executor/executor.js';
import { unknownFateDetail } from '../../src/pipeline/resume-step.js';
import type { Build } from '../../src/domain/build.js';

// docs/sandbox.md, crash recovery with `sandbox: stage`: a worker killed with SIGKILL while a
// step runs in its stage's sandbox. The next worker asks the engine about the step's exec by its
// ref (`sandbox:<container>:<exec>`), cannot read its output back, so settles it as a step whose
// fate is unknown (not idempotent: failed_infra, not run again), removes the dead worker's
// sandbox, and nothing of the stage is left once the build ended.
const queue = { lockDurationMs: 3000, stalledIntervalMs: 1000, maxStalledCount: 1, watchdogIntervalMs: 1000 };
const instanceId = `sbxcrash${process.pid}`;

test("a worker killed mid-step in a stage sandbox: the step's fate is settled as unknown and the sandbox is removed", { timeout: 420_000 }, async (t) => {
  if (!(await requireDocker(t))) return;
  const docker = new Docker();
  const redis = await startRedis();
  const dir = mkdtempSync(join(tmpdir(), 'bosun-sbx-crash-'));
  const repoUrl = `file://${join(dir, 'src-repos', 'sbx-crashy')}`;
  await makeRepo(dir, 'sbx-crashy', {
    'bosun.yml': [
      'version: 1',
      'image: bosun/busybox:1',
      'stages:',
      '  test:',
      '    steps:',
      '      - name: first',
      '        run: echo first-ran',
      '      - name: second',
      '        run: sleep 600',
      '      - name: third',
      '        run: echo third-ran',
      '',
    ].join('\n'),
  });
  const workerConfig = { instanceId, queue, sandbox: 'stage', repos: { 'sbx-crashy': { url: repoUrl } }, limits: { killGraceSec: 1 } };
  const { startServer } = await import('../../src/app/start-server.js');
  const { loadConfig } = await import('../../src/config.js');
  const { silentLogger } = await import('../../src/logger.js');
  const { startWorkerPool } = await import('../../src/app/start-worker-pool.js');
  const config = loadConfig(
    {},
    {
      instanceId,
      dataDir: join(dir, 'server'),
      redisUrl: redis.url,
      http: { port: 0 },
      workers: 0,
      queue,
      logLevel: 'silent',
      apiTokens: [{ name: 't', token: 'test-token-0123456789abcdef' }],
      repos: { 'sbx-crashy': { url: repoUrl } },
    },
  );
  const server = await startServer(config, silentLogger());
  const advance = await startWorkerPool(server.core, {
    advance: true,
    concurrency: 0,
    labels: [],
    executor: {
      name: 'local',
      start: () => {
        throw new Error('unused');
      },
      destroyRef: async () => undefined,
      reap: async () => [],
      cleanupBuild: async () => undefined,
      close: async () => undefined,
    } as never,
  });
  const sandboxes = async (id: string) =>
    (
      await docker.listContainers({
        all: true,
        filters: JSON.stringify({ label: [`${labelKeys.instance}=${instanceId}`, `${labelKeys.build}=${id}`, labelKeys.sandbox] }),
      })
    ).map((c) => c.Id);
  const w1 = startWorkerProcess({ redisUrl: redis.url, dir, name: 'one', config: workerConfig, executor: 'docker' });
  let w2: ReturnType<typeof startWorkerProcess> | undefined;
  try {
    const res = await fetch(`${server.url}/api/builds`, {
      method: 'POST',
      headers: { authorization: 'Bearer test-token-0123456789abcdef', 'content-type': 'application/json' },
      body: JSON.stringify({ repo: 'sbx-crashy', ref: 'master' }),
    });
    const id = ((await res.json()) as { build: { id: string } }).build.id;
    const deadline = Date.now() + 180_000;
    let b: Build = await server.core.store.require(id);
    while (!(b.stages[0]?.steps[1]?.status === 'running' && b.stages[0].steps[1].executorRef) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      b = await server.core.store.require(id);
    }
    assert.equal(b.stages[0]?.steps[1]?.status, 'running', 'step 2 runs on the first worker');
    assert.match(b.stages[0]!.steps[1]!.executorRef!, /^sandbox:[0-9a-f]+:[0-9a-f]+$/);
    const before = await sandboxes(id);
    assert.equal(before.length, 1, 'one sandbox runs the stage');

    w1.kill('SIGKILL');
    w2 = startWorkerProcess({ redisUrl: redis.url, dir, name: 'two', config: workerConfig, executor: 'docker' });
    while (b.status !== 'success' && b.status !== 'failed' && b.status !== 'failed_infra' && Date.now() < deadline + 60_000) {
      await new Promise((r) => setTimeout(r, 200));
      b = await server.core.store.require(id);
    }

    const steps = b.stages[0]!.steps;
    assert.equal(b.status, 'failed_infra', JSON.stringify(b.stages));
    assert.deepEqual(
      steps.map((s) => [s.status, s.runs]),
      [
        ['success', 1],
        ['failed_infra', 1],
        ['skipped', 0],
      ],
    );
    assert.equal(steps[1]!.detail, unknownFateDetail);
    const firstLog = (await server.core.logs.read(id, 'test', 'first')).map((l) => l.text).join('\n');
    assert.match(firstLog, /the step runs in the stage's sandbox .* \(docker exec\)/);
    assert.match(firstLog, /first-ran/);
    assert.match((await server.core.logs.read(id, 'test', 'second')).map((l) => l.text).join('\n'), /state unknown after a crash/);
    const waitGone = Date.now() + 60_000;
    let left = await sandboxes(id);
    while (left.length > 0 && Date.now() < waitGone) {
      await new Promise((r) => setTimeout(r, 500));
      left = await sandboxes(id);
    }
    assert.deepEqual(left, [], "the dead worker's sandbox is gone");
  } finally {
    if (w2) await stopProcess(w2);
    await stopProcess(w1, 'SIGKILL');
    await advance.close(true);
    await server.close();
    await redis.stop();
    for (const c of await docker.listContainers({ all: true, filters: JSON.stringify({ label: [`${labelKeys.instance}=${instanceId}`] }) })) {
      await docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined);
    }
    const { DockerExecutor } = await import('../../src/executor/docker/docker-executor.js');
    await new DockerExecutor({ docker, instanceId, log: silentLogger() }).reapBuilds(() => false).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});

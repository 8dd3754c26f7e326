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
import type { Build } from '../../src/domain/build.js';

// Issue 12 part 3, R20/R22 for services: a worker killed with SIGKILL while a step runs beside
// its stage's service, and the step's container lost with it (removed, as after a node reboot);
// another worker takes the stage over, finds the step's fate unknown, and as the step is marked
// idempotent starts the service afresh (the dead worker's container replaced), runs the
// interrupted step again, and nothing is left after. (A step whose container still runs is
// re-attached instead: test/cli/crash-resume.test.ts.)
// Locks a little longer than worker-crash.test.ts: containers make the workers busier on a loaded machine.
const queue = { lockDurationMs: 3000, stalledIntervalMs: 1000, maxStalledCount: 1, watchdogIntervalMs: 1000 };
const instanceId = `svccrash${process.pid}`;

test("a worker killed mid-stage: the next worker recreates the stage's services and the build passes", async (t) => {
  if (!(await requireDocker(t))) return;
  const docker = new Docker();
  if (
    !(await docker
      .getImage('bosun/redis-test:7')
      .inspect()
      .then(
        () => true,
        () => false,
      ))
  ) {
    if (process.env.CI) throw new Error('bosun/redis-test:7 is missing: run scripts/build-base-images.sh');
    return t.skip('no bosun/redis-test:7 (scripts/build-base-images.sh)');
  }
  const redis = await startRedis();
  const dir = mkdtempSync(join(tmpdir(), 'bosun-svc-crash-'));
  const repoUrl = `file://${join(dir, 'src-repos', 'svc-crashy')}`;
  await makeRepo(dir, 'svc-crashy', {
    'bosun.yml': [
      'version: 1',
      'image: bosun/redis-test:7',
      'stages:',
      '  test:',
      '    services:',
      '      cache: { image: bosun/redis-test:7, ready: { run: redis-cli ping } }',
      '    steps:',
      '      - name: first',
      '        run: redis-cli -h cache set marker from-the-first-run',
      // The workspace volume outlives the worker: the first run marks it and hangs.
      '      - name: second',
      '        idempotent: true',
      '        run:',
      '          - "if [ ! -e /workspace/.second-ran ]; then touch /workspace/.second-ran; echo marked the workspace; sleep 600; fi"',
      '          - echo "second run says $(redis-cli -h cache ping), marker=[$(redis-cli -h cache get marker)]"',
      '',
    ].join('\n'),
  });
  const workerConfig = { instanceId, queue, repos: { 'svc-crashy': { url: repoUrl } }, limits: { killGraceSec: 1 } };
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
      repos: { 'svc-crashy': { url: repoUrl } },
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
  const serviceContainers = async (id: string) =>
    (
      await docker.listContainers({
        all: true,
        filters: JSON.stringify({ label: [`${labelKeys.instance}=${instanceId}`, `${labelKeys.build}=${id}`, labelKeys.service] }),
      })
    ).map((c) => c.Id);
  const w1 = startWorkerProcess({ redisUrl: redis.url, dir, name: 'one', config: workerConfig, executor: 'docker' });
  let w2: ReturnType<typeof startWorkerProcess> | undefined;
  try {
    const res = await fetch(`${server.url}/api/builds`, {
      method: 'POST',
      headers: { authorization: 'Bearer test-token-0123456789abcdef', 'content-type': 'application/json' },
      body: JSON.stringify({ repo: 'svc-crashy', ref: 'master' }),
    });
    const id = ((await res.json()) as { build: { id: string } }).build.id;
    const deadline = Date.now() + 180_000;
    let b: Build = await server.core.store.require(id);
    while (!(b.stages[0]?.steps[1]?.status === 'running' && b.stages[0].steps[1].executorRef) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      b = await server.core.store.require(id);
    }
    assert.equal(b.stages[0]?.steps[1]?.status, 'running', 'step 2 runs on the first worker');
    const before = await serviceContainers(id);
    assert.equal(before.length, 1, 'the service runs beside it');
    // The step marked the workspace (its log says so) before its worker dies.
    const marked = async () => (await server.core.logs.read(id, 'test', 'second')).some((l) => l.text.includes('marked the workspace'));
    while (!(await marked()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(await marked(), 'the first run of step 2 marked the workspace');

    w1.kill('SIGKILL');
    const lost = b.stages[0]!.steps[1]!.executorRef!.replace(/^docker:/, '');
    await docker.getContainer(lost).remove({ force: true });
    w2 = startWorkerProcess({ redisUrl: redis.url, dir, name: 'two', config: workerConfig, executor: 'docker' });
    while (b.status !== 'success' && b.status !== 'failed' && b.status !== 'failed_infra' && Date.now() < deadline + 60_000) {
      await new Promise((r) => setTimeout(r, 200));
      b = await server.core.store.require(id);
    }

    assert.equal(b.status, 'success', JSON.stringify(b.stages));
    assert.deepEqual(
      b.stages[0]!.steps.map((s) => s.runs),
      [1, 2],
      'step 1 ran once, step 2 again',
    );
    // A fresh service, not the dead worker's: what the first run stored is gone.
    assert.match((await server.core.logs.read(id, 'test', 'second')).map((l) => l.text).join('\n'), /second run says PONG, marker=\[\]/);
    const left = await serviceContainers(id);
    assert.deepEqual(left, [], "the dead worker's service and the new one are gone");
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

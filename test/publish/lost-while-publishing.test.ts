import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, type TestRedis } from '../support/redis-server.js';
import { FakeExecutor } from '../fakes/fake-executor.js';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { BuildStore } from '../../src/storage/build-store.js';
import { LogStore } from '../../src/logs/log-store.js';
import { watchdogPass, type StageJobInspector } from '../../src/pipeline/watchdog.js';
import type { PipelineDeps, WorkQueue } from '../../src/pipeline/pipeline-deps.js';
import type { Build } from '../../src/domain/build.js';
import type { Publication } from '../../src/domain/publication.js';

let redis: TestRedis;
let dataDir: string;
before(async () => {
  redis = await startRedis();
  dataDir = mkdtempSync(join(tmpdir(), 'bosun-lost-publish-'));
});
after(async () => {
  await redis?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const digest = `sha256:${'f'.repeat(64)}`;
const image: Publication = {
  kind: 'docker',
  stage: 'release',
  image: 'registry.example/acme/api',
  tag: 'a'.repeat(40),
  digest,
  ref: `registry.example/acme/api@${digest}`,
  publishedAt: '',
};

// A stage whose worker died after its steps passed: it passes only if everything it had to
// publish was recorded; otherwise it must not look published.
const cases: { name: string; published: Publication[]; stage: string; publishError?: RegExp }[] = [
  {
    name: 'a worker lost while publishing leaves the stage failed_infra, saying so, never success',
    published: [],
    stage: 'failed_infra',
    publishError: /the worker died while publishing; retry the build/,
  },
  { name: 'a worker lost after publishing everything leaves the stage a success', published: [image], stage: 'success' },
];

let seq = 1;
for (const c of cases) {
  test(c.name, async () => {
    const prefix = `lp${seq}`;
    const store = new BuildStore(redis.client(), prefix);
    const logs = new LogStore(redis.client(), dataDir, prefix);
    const build: Build = {
      id: String(seq++),
      repo: 'demo',
      ref: 'master',
      sha: 'a'.repeat(40),
      trigger: { event: 'manual', source: 'cli', actor: { id: 'u', name: 'u' } },
      status: 'running',
      createdAt: new Date().toISOString(),
      attempt: 1,
      version: 0,
      ...(c.published.length ? { published: c.published } : {}),
      stages: [
        {
          name: 'release',
          status: 'running',
          needs: [],
          labels: [],
          resources: [],
          publish: [{ kind: 'docker', image: 'registry.example/acme/api', context: '.', dockerfile: 'Dockerfile' }],
          steps: [
            {
              name: 'dist',
              status: 'success',
              image: 'x',
              runs: 1,
              executor: 'docker',
              exitCode: 0,
              plan: { name: 'dist', image: 'x', commands: ['true'], env: {}, timeoutSec: 600, workdir: '.' },
            },
          ],
        },
      ],
    };
    await store.create(build, []);
    const queue: WorkQueue = { advance: async () => undefined, runStage: async () => undefined };
    const jobs: StageJobInspector = { stageJobState: async () => 'failed', lastHeartbeat: async () => null, workersFor: async () => 1 };
    const deps = {
      config: loadConfig({}, {}),
      store,
      logs,
      queue,
      log: silentLogger(),
      secrets: {},
      bus: { publish: async () => undefined },
    } as unknown as PipelineDeps;

    await watchdogPass(deps, jobs, 10_000, new FakeExecutor('docker'));

    const settled = await store.require(build.id);
    assert.equal(settled.stages[0]!.status, c.stage);
    if (c.publishError) assert.match(settled.stages[0]!.publishError ?? '', c.publishError);
    else assert.equal(settled.stages[0]!.publishError, undefined);
  });
}

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { LocalExecutor } from '../../src/executor/local/local-executor.js';
import type { StepSpec } from '../../src/executor/executor.js';
import { createLogger } from '../../src/logger.js';

/** The local executor, recording the per-build calls the pipeline makes, in order. */
class RecordingExecutor extends LocalExecutor {
  readonly calls: string[] = [];
  async prepareBuild(buildId: string): Promise<void> {
    this.calls.push(`prepare ${buildId}`);
  }
  override async start(spec: StepSpec) {
    this.calls.push(`start ${spec.buildId} ${spec.step}`);
    return super.start(spec);
  }
  override async cleanupBuild(buildId: string): Promise<void> {
    this.calls.push(`cleanup ${buildId}`);
    return super.cleanupBuild(buildId);
  }
}

let h: Harness;
let executor: RecordingExecutor;
before(async () => {
  h = await startHarness({}, {
    executor: (dataDir) => (executor = new RecordingExecutor({ instanceId: 'prep', dataDir, log: createLogger('silent'), timeoutGraceMs: 2000 })),
  });
});
after(async () => {
  await h?.stop();
});

const until = async (what: string, ok: () => boolean) => {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(ok(), `${what}: ${JSON.stringify(executor.calls)}`);
};

test('a build is prepared on the executor before its first step starts', async () => {
  const res = await h.api('POST', '/api/builds', { repo: 'demo', ref: 'master' });
  const id = res.json.build.id as string;

  const b = await h.waitDone(id);

  assert.equal(b.status, 'success');
  const mine = executor.calls.filter((c) => c.split(' ')[1] === id);
  assert.equal(mine[0], `prepare ${id}`);
  assert.ok(mine.some((c) => c.startsWith(`start ${id} `)));
  assert.equal(mine.filter((c) => c === `prepare ${id}`).length, 1);
});

test('a build that fails before its first stage is cleaned up at once, after its preparation', async () => {
  const repo = await makeRepo(h.dataDir, 'broken-prep', { 'bosun.yml': 'version: 1\nstages: [not, a, map]\n' });
  h.server.core.config.repos['broken-prep'] = { url: repo.url, defaultBranch: 'master', secrets: [] };

  const res = await h.api('POST', '/api/builds', { repo: 'broken-prep', ref: 'master' });
  const id = res.json.build.id as string;
  const b = await h.waitDone(id);

  assert.equal(b.status, 'failed');
  await until('cleanup after prepare', () => executor.calls.includes(`cleanup ${id}`));
  const mine = executor.calls.filter((c) => c.split(' ')[1] === id);
  assert.deepEqual(mine, [`prepare ${id}`, `cleanup ${id}`]);
});

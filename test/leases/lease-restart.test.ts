import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { dispatch } from '../../commands/dispatch.js';
import { makeBuildService } from '../../src/app/build-service.js';
import { makeLeaseService } from '../../src/leases/lease-service.js';
import { startServer, type RunningServer } from '../../src/app/start-server.js';
import { LocalExecutor } from '../../src/executor/local/local-executor.js';
import { silentLogger } from '../../src/logger.js';
import type { CommandContext } from '../../commands/command.js';

// A build paused at a checkpoint with a leased phone survives a restart of Bosun (same Redis,
// same dataDir) and can still be passed; the lease is still held across the restart.
let h: Harness;
let second: RunningServer | null = null;
let executor: LocalExecutor | null = null;
before(async () => {
  h = await startHarness({
    groups: { qa: ['slack:T1/UQA'] },
    queue: { watchdogIntervalMs: 200 },
    pools: { phone: { items: [{ id: 'iphone-1', attributes: ['ios-17'] }], healthCheck: ['true'] } },
  });
});
after(async () => {
  await second?.close();
  await executor?.close();
  await h?.redis.stop();
  if (h) rmSync(h.dataDir, { recursive: true, force: true });
});

function ctx(server: RunningServer, id: string, name: string): CommandContext {
  const core = server.core;
  return { actor: { id, name }, source: 'slack', builds: makeBuildService(core.deps, core.redis), leases: makeLeaseService(core.deps.leases!) };
}

test('a build paused at a checkpoint with a leased phone survives a restart and can still be passed', async () => {
  const repo = await makeRepo(h.dataDir, 'release-qa', {
    'bosun.yml': [
      'version: 1',
      'image: any',
      'stages:',
      '  staging:',
      '    steps:',
      '      - name: deploy',
      '        run: echo deployed',
      '    checkpoint:',
      '      instructions: Check the release on an iPhone.',
      '      checklist: [Login works]',
      '      timeout: 4h',
      '      approvers: qa',
      '      resource: { pool: phone, attributes: [ios-17] }',
      '  prod:',
      '    needs: [staging]',
      '    steps:',
      '      - name: go',
      '        run: echo live',
      '',
    ].join('\n'),
  });
  h.server.core.config.repos['release-qa'] = { url: repo.url, defaultBranch: 'master', secrets: [] };
  const deadline = Date.now() + 60_000;
  while ((await h.server.core.deps.leases!.items('phone'))[0]?.state !== 'free' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const started = await dispatch('build release-qa#master', ctx(h.server, 'slack:T1/UDEV', 'dev'));
  const id = started.build!.id;
  const paused = await h.waitFor(id, (b) => b.status === 'waiting');
  const leaseId = paused.stages[0]!.checkpointState!.leaseId!;

  const config = h.server.core.config;
  await h.server.close();
  executor = new LocalExecutor({ instanceId: config.instanceId, dataDir: h.dataDir, log: silentLogger(), timeoutGraceMs: 2000 });
  second = await startServer(config, silentLogger(), { executor });

  const still = await second.core.store.require(id);
  assert.equal(still.status, 'waiting');
  assert.equal((await second.core.deps.leases!.require(leaseId)).state, 'active');
  const board = await dispatch('leases', ctx(second, 'slack:T1/UX', 'x'));
  assert.match(board.text, new RegExp(`iphone-1 \\[ios-17\\]: build #${id} staging \\(tester\\) \\(build #${id}/staging\\)`));
  const passed = await dispatch(`pass ${id}`, ctx(second, 'slack:T1/UQA', 'qa'));
  assert.match(passed.text, /^Passed the checkpoint of staging/);
  let b = await second.core.store.require(id);
  while (b.status !== 'success' && b.status !== 'failed' && Date.now() < deadline + 30_000) {
    await new Promise((r) => setTimeout(r, 100));
    b = await second.core.store.require(id);
  }
  assert.equal(b.status, 'success', JSON.stringify(b.stages));
  assert.equal((await second.core.deps.leases!.require(leaseId)).state, 'released');
});

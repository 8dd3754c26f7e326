import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandContext, waitForEvent } from '../support/lease-helpers.js';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { startWorkerProcess, stopProcess } from '../support/worker-process.js';
import { dispatch } from '../../commands/dispatch.js';
import type { CommandContext } from '../../commands/command.js';
import type { StoredEvent } from '../../src/domain/build-event.js';

// R20 + R25: a worker running a stage that holds a device is killed with SIGKILL and another
// worker resumes the stage: it takes over the stage's own lease (no queueing behind itself)
// with a new fencing token, so the dead worker's token is refused from then on.
let h: Harness;
let dir: string;
let worker: ChildProcess | null = null;
const queue = { lockDurationMs: 1000, stalledIntervalMs: 500, maxStalledCount: 1, watchdogIntervalMs: 1000 };
const pools = { rig: { items: [{ id: 'rig-1' }], healthCheck: ['true'], pipelineTtlSec: 20 } };

before(async () => {
  h = await startHarness({ workers: 0, queue, pools });
  dir = mkdtempSync(join(tmpdir(), 'bosun-lease-takeover-'));
});
after(async () => {
  if (worker) await stopProcess(worker, 'SIGKILL');
  await h?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const ctx = (id: string, name: string): CommandContext => commandContext(h, id, name);

const waitEvent = (pred: (e: StoredEvent) => boolean, timeoutMs = 30_000): Promise<StoredEvent> => waitForEvent(h, pred, timeoutMs);

test('a stage resumed on another worker after kill -9 takes over its device with a new fencing token; the old token is refused', async () => {
  const started = join(dir, 'rig-started');
  const repo = await makeRepo(dir, 'rig-job', {
    'bosun.yml': [
      'version: 1',
      'image: any',
      'stages:',
      '  hil:',
      '    resources: [{ pool: rig, attributes: [] }]',
      '    steps:',
      '      - name: flash',
      '        idempotent: true',
      '        run:',
      `          - 'if [ ! -f ${started} ]; then touch ${started}; sleep 600; fi'`,
      '          - echo "lease $BOSUN_RESOURCE_RIG_LEASE token $BOSUN_RESOURCE_RIG_TOKEN"',
      '',
    ].join('\n'),
  });
  h.server.core.config.repos['rig-job'] = { url: repo.url, defaultBranch: 'master', secrets: [] };
  await waitEvent((e) => e.type === 'lease.item' && e.item === 'rig-1' && e.state === 'free');
  const config = { queue, pools, repos: { 'rig-job': { url: repo.url } }, limits: { killGraceSec: 1 } };
  worker = startWorkerProcess({ redisUrl: h.redis.url, dir, name: 'rig-one', config });

  const id = (await dispatch('build rig-job#master', ctx('slack:T1/UDEV', 'dev'))).build!.id;
  const grant = await waitEvent((e) => e.type === 'lease.granted' && e.buildId === id);
  if (grant.type !== 'lease.granted') throw new Error('unreachable');
  const deadline = Date.now() + 30_000;
  while (!existsSync(started) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await stopProcess(worker, 'SIGKILL');
  worker = startWorkerProcess({ redisUrl: h.redis.url, dir, name: 'rig-two', config });
  let b = await h.server.core.store.require(id);
  while (b.status !== 'success' && b.status !== 'failed' && b.status !== 'failed_infra' && Date.now() < deadline + 30_000) {
    await new Promise((r) => setTimeout(r, 100));
    b = await h.server.core.store.require(id);
  }

  assert.equal(b.status, 'success', JSON.stringify(b.stages));
  const tail = await ctx('slack:T1/UDEV', 'dev').builds.logTail(id, {}, 10);
  const m = /lease (L-\d+) token (\d+)/.exec(tail!.lines.map((l) => l.text).join('\n'));
  assert.equal(m?.[1], grant.leaseId, 'the resumed stage kept its lease (no queueing behind itself)');
  assert.ok(Number(m?.[2]) > grant.token, 'with a new fencing token');
  const audit = await h.server.core.audit.list(2000);
  assert.ok(audit.some((a) => a.action === 'lease.takeover' && a.detail?.startsWith(grant.leaseId)));
  const lease = await h.server.core.deps.leases!.require(grant.leaseId);
  assert.equal(lease.state, 'released', 'released when the stage ended');
  await assert.rejects(h.server.core.deps.leases!.release(grant.leaseId, grant.holder, grant.token, 'late', { admin: true }), /released, not active/);
});

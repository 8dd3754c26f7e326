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

// R25: a pipeline worker holding a device is killed with SIGKILL. Its lease is no longer
// renewed, expires, the item goes dirty → janitor → the next person in line, who is notified;
// a late heartbeat with the dead worker's token is refused.
let h: Harness;
let dir: string;
let worker: ChildProcess | null = null;
const queue = { lockDurationMs: 1000, stalledIntervalMs: 500, maxStalledCount: 1, watchdogIntervalMs: 1000 };
const pools = { device: { items: [{ id: 'pixel-1', attributes: ['android'] }], healthCheck: ['true'], pipelineTtlSec: 4 } };

before(async () => {
  h = await startHarness({ workers: 0, queue, pools });
  dir = mkdtempSync(join(tmpdir(), 'bosun-lease-kill-'));
});
after(async () => {
  if (worker) await stopProcess(worker, 'SIGKILL');
  await h?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const ctx = (id: string, name: string): CommandContext => commandContext(h, id, name);

const waitEvent = (pred: (e: StoredEvent) => boolean, timeoutMs = 30_000): Promise<StoredEvent> => waitForEvent(h, pred, timeoutMs);

test('kill -9 of the worker holding a device: the lease expires, the janitor checks the item, the next in line gets it', async () => {
  const started = join(dir, 'started');
  const repo = await makeRepo(dir, 'device-job', {
    'bosun.yml': [
      'version: 1',
      'image: any',
      'stages:',
      '  e2e:',
      '    resources: [{ pool: device, attributes: [android] }]',
      '    steps:',
      '      - name: flash',
      '        run:',
      `          - touch ${started}`,
      '          - sleep 600',
      '',
    ].join('\n'),
  });
  h.server.core.config.repos['device-job'] = { url: repo.url, defaultBranch: 'master', secrets: [] };
  await waitEvent((e) => e.type === 'lease.item' && e.item === 'pixel-1' && e.state === 'free');
  worker = startWorkerProcess({
    redisUrl: h.redis.url,
    dir,
    name: 'holder',
    config: { queue, pools, repos: { 'device-job': { url: repo.url } }, limits: { killGraceSec: 1 } },
  });

  const build = await dispatch('build device-job#master', ctx('slack:T1/UDEV', 'dev'));
  const id = build.build!.id;
  const grant = await waitEvent((e) => e.type === 'lease.granted' && e.buildId === id);
  const deadline = Date.now() + 30_000;
  while (!existsSync(started) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(existsSync(started), 'the step runs while the stage holds the device');
  const bob = ctx('slack:T1/UB', 'bob');
  const asked = await dispatch('lease android', bob);
  assert.match(asked.text, new RegExp(`you are #1 in line behind build #${id} e2e`));
  const bobLease = /request (L-\d+)/.exec(asked.text)![1]!;
  await new Promise((r) => setTimeout(r, 5000)); // renewed every third of the 4 s TTL: a stall of ~2.5 s is tolerated
  assert.equal(
    (await h.server.core.deps.leases!.require(grant.type === 'lease.granted' ? grant.leaseId : '')).state,
    'active',
    'heartbeats keep it past its 4 s TTL',
  );

  const killedAt = Date.now();
  await stopProcess(worker, 'SIGKILL');
  worker = null;
  const expired = await waitEvent((e) => e.type === 'lease.expired' && e.buildId === id);
  const toBob = await waitEvent((e) => e.type === 'lease.granted' && e.leaseId === bobLease);
  const tookMs = Date.now() - killedAt;

  assert.ok(expired.id < toBob.id);
  assert.equal(toBob.type === 'lease.granted' && toBob.item, 'pixel-1');
  assert.match(toBob.type === 'lease.granted' ? toBob.text : '', /^bob: pixel-1 \(device\) is yours/);
  const audit = await h.server.core.audit.list(1000);
  assert.ok(
    audit.some((a) => a.action === 'lease.clean' && a.detail === 'device/pixel-1 healthy' && a.at >= new Date(killedAt).toISOString()),
    'the item passed the janitor',
  );
  if (grant.type !== 'lease.granted') throw new Error('unreachable');
  await assert.rejects(
    h.server.core.deps.leases!.renew(grant.leaseId, grant.holder, grant.token, 2, { admin: true }),
    /expired, not active|stale fencing token/,
    'a late heartbeat from the dead worker is refused',
  );
  await dispatch(`cancel ${id}`, ctx('slack:T1/UDEV', 'dev'));
  process.stderr.write(`kill -9 → next in line granted in ${tookMs} ms (pipeline TTL 4 s)\n`);
});

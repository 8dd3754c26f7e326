import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { commandContext, waitForEvent } from '../support/lease-helpers.js';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { dispatch } from '../../commands/dispatch.js';
import type { CommandContext } from '../../commands/command.js';
import type { StoredEvent } from '../../src/domain/build-event.js';

let h: Harness;
before(async () => {
  h = await startHarness({
    groups: { qa: ['slack:T1/UQA'] },
    queue: { watchdogIntervalMs: 200 },
    pools: {
      device: { items: [{ id: 'pixel-1', attributes: ['android', 'pixel-7'] }], healthCheck: ['true'], pipelineTtlSec: 3 },
      // maxTtlSec far below the checkpoints' 4 h: such a checkpoint waits at most 60 s, and its lease outlives that deadline.
      phone: {
        items: [
          { id: 'iphone-1', attributes: ['ios-17'] },
          { id: 'iphone-2', attributes: ['ios-17'] },
        ],
        healthCheck: ['true'],
        maxTtlSec: 60,
      },
    },
  });
});
after(async () => {
  await h?.stop();
});

const ctx = (id: string, name: string): CommandContext => commandContext(h, id, name);

const waitEvent = (pred: (e: StoredEvent) => boolean, timeoutMs = 60_000): Promise<StoredEvent> => waitForEvent(h, pred, timeoutMs);

async function itemState(pool: string, item: string): Promise<string | undefined> {
  return (await h.server.core.deps.leases!.items(pool)).find((i) => i.id === item)?.state;
}

async function addRepo(name: string, spec: string[]): Promise<void> {
  const repo = await makeRepo(h.dataDir, name, { 'bosun.yml': [...spec, ''].join('\n') });
  h.server.core.config.repos[name] = { url: repo.url, defaultBranch: 'master', secrets: [] };
}

test('a stage that needs a device waits in line behind a person, gets the device in its env, and gives it back', async () => {
  await addRepo('needs-device', [
    'version: 1',
    'image: any',
    'stages:',
    '  e2e:',
    '    resources: [{ pool: device, attributes: [pixel-7] }]',
    '    steps:',
    '      - name: run',
    '        run: echo "on device $BOSUN_RESOURCE_DEVICE token $BOSUN_RESOURCE_DEVICE_TOKEN"',
  ]);
  await waitEvent((e) => e.type === 'lease.item' && e.item === 'pixel-1' && e.state === 'free');
  const alice = ctx('slack:T1/UA', 'alice');
  const mine = await dispatch('lease device', alice);
  const aliceLease = /lease (L-\d+)/.exec(mine.text)![1]!;

  const started = await dispatch('build needs-device#master', ctx('slack:T1/UDEV', 'dev'));
  const id = started.build!.id;
  await h.waitFor(id, (b) => b.stages[0]?.status === 'waiting');
  const waiting = await waitEvent((e) => e.type === 'lease.waiting' && e.buildId === id);
  assert.equal(waiting.type === 'lease.waiting' && waiting.ahead, 'alice');
  assert.match(waiting.type === 'lease.waiting' ? waiting.text : '', /build #\d+ e2e is #1 in line for device \(pixel-7\) behind alice/);

  await dispatch(`release ${aliceLease}`, alice);
  const done = await h.waitDone(id, 30_000);

  assert.equal(done.status, 'success', JSON.stringify(done.stages));
  const tail = await ctx('slack:T1/UDEV', 'dev').builds.logTail(id, {}, 10);
  assert.match(tail!.lines.map((l) => l.text).join('\n'), /on device pixel-1 token \d+/);
  const released = await waitEvent((e) => e.type === 'lease.released' && e.buildId === id);
  assert.equal(released.type === 'lease.released' && released.item, 'pixel-1');
  await waitEvent((e) => e.type === 'lease.item' && e.item === 'pixel-1' && e.state === 'free' && e.id > released.id);
});

const checkpointSpec = (timeout: string) => [
  'version: 1',
  'image: any',
  'stages:',
  '  staging:',
  '    steps:',
  '      - name: deploy',
  '        run: echo deployed',
  '    checkpoint:',
  '      instructions: Try the release on a phone.',
  '      checklist: [Login works, Push arrives]',
  `      timeout: ${timeout}`,
  '      approvers: qa',
  '      resource: { pool: phone, attributes: [ios-17] }',
  '  prod:',
  '    needs: [staging]',
  '    steps:',
  '      - name: go',
  '        run: echo live',
];

test('a checkpoint leases a phone for the tester; Pass resumes the pipeline and releases the phone', async () => {
  await addRepo('manual-qa', checkpointSpec('4h'));
  const started = await dispatch('build manual-qa#master', ctx('slack:T1/UDEV', 'dev'));
  const id = started.build!.id;

  const paused = await h.waitFor(id, (b) => b.status === 'waiting');
  const state = paused.stages[0]!.checkpointState!;
  assert.match(state.resourceLabel ?? '', /^iphone-\d \(phone\) — lease L-\d+$/);
  const cp = await waitEvent((e) => e.type === 'checkpoint.waiting' && e.buildId === id);
  assert.deepEqual(cp.type === 'checkpoint.waiting' && cp.checklist, ['Login works', 'Push arrives']);
  assert.equal(cp.type === 'checkpoint.waiting' && cp.resource, state.resourceLabel);
  const lease = await h.server.core.deps.leases!.require(state.leaseId!);
  assert.equal(lease.state, 'active');
  // The pool's maxTtlSec (60 s) caps the 4 h checkpoint, and the lease outlives that deadline:
  // the timeout decision, not the reaper, gives the phone back.
  assert.ok(Date.parse(state.deadline) <= Date.now() + 60_000, `deadline ${state.deadline} is within the pool's 60 s`);
  assert.ok(Date.parse(lease.expiresAt!) > Date.parse(state.deadline), `lease expires ${lease.expiresAt}, checkpoint deadline ${state.deadline}`);
  assert.equal(cp.type === 'checkpoint.waiting' && cp.deadline, state.deadline);

  const passed = await dispatch(`pass ${id}`, ctx('slack:T1/UQA', 'qa'));
  assert.match(passed.text, /^Passed the checkpoint of staging/);
  const done = await h.waitDone(id);
  assert.equal(done.status, 'success');
  assert.equal((await h.server.core.deps.leases!.require(state.leaseId!)).state, 'released');
});

test('a checkpoint nobody decides times out, fails the build, and releases its phone', async () => {
  await addRepo('manual-qa-fast', checkpointSpec('1s'));
  const started = await dispatch('build manual-qa-fast#master', ctx('slack:T1/UDEV', 'dev'));
  const id = started.build!.id;
  const done = await h.waitDone(id, 30_000);

  assert.equal(done.status, 'failed');
  const state = done.stages[0]!.checkpointState!;
  assert.equal(state.decision?.decision, 'timeout');
  assert.equal(done.stages[1]!.status, 'skipped');
  const lease = await h.server.core.deps.leases!.require(state.leaseId!);
  assert.equal(lease.state, 'released');
  assert.ok(Date.parse(lease.expiresAt!) > Date.parse(state.deadline), `lease expires ${lease.expiresAt}, checkpoint deadline ${state.deadline}`);
  assert.ok(['dirty', 'cleaning', 'free'].includes((await itemState('phone', state.resourceLabel!.slice(0, 8)))!));
});

test('cancelling builds gives back a checkpoint phone and takes a waiting stage out of the line', async () => {
  await addRepo('manual-qa-cancel', checkpointSpec('4h'));
  await addRepo('needs-device-2', [
    'version: 1',
    'image: any',
    'stages:',
    '  e2e:',
    '    resources: [{ pool: device, attributes: [android] }]',
    '    steps:',
    '      - name: run',
    '        run: echo never',
  ]);
  const dev = ctx('slack:T1/UDEV', 'dev');
  const paused = await dispatch('build manual-qa-cancel#master', dev);
  const pausedBuild = await h.waitFor(paused.build!.id, (b) => b.status === 'waiting');
  const phoneLease = pausedBuild.stages[0]!.checkpointState!.leaseId!;
  const deadline = Date.now() + 60_000;
  while ((await itemState('device', 'pixel-1')) !== 'free' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const alice = ctx('slack:T1/UA', 'alice');
  const held = /lease (L-\d+)/.exec((await dispatch('lease device', alice)).text)![1]!;
  const queued = await dispatch('build needs-device-2#master', dev);
  const queuedId = queued.build!.id;
  await h.waitFor(queuedId, (b) => b.stages[0]?.status === 'waiting');
  const request = await waitEvent((e) => e.type === 'lease.waiting' && e.buildId === queuedId);

  await dispatch(`cancel ${pausedBuild.id}`, dev);
  await dispatch(`cancel ${queuedId}`, dev);

  assert.equal((await h.server.core.deps.leases!.require(phoneLease)).state, 'released');
  const done = await h.waitDone(queuedId);
  assert.equal(done.status, 'cancelled');
  const requestId = request.type === 'lease.waiting' ? request.leaseId : '';
  const deadline2 = Date.now() + 60_000;
  while ((await h.server.core.deps.leases!.require(requestId)).state === 'waiting' && Date.now() < deadline2) await new Promise((r) => setTimeout(r, 100));
  assert.equal((await h.server.core.deps.leases!.require(requestId)).state, 'cancelled');
  assert.deepEqual(await h.server.core.deps.leases!.waiting('device'), []);
  await dispatch(`release ${held}`, alice);
});

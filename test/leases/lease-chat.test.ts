import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { commandContext, waitForEvent } from '../support/lease-helpers.js';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { dispatch } from '../../commands/dispatch.js';
import type { CommandContext } from '../../commands/command.js';
import type { StoredEvent } from '../../src/domain/build-event.js';

let h: Harness;
before(async () => {
  h = await startHarness({
    pools: { device: { items: [{ id: 'pixel-1', attributes: ['android', 'pixel-7'] }], healthCheck: ['true'], reminderLeadSec: 0 } },
  });
});
after(async () => {
  await h?.stop();
});

const ctx = (id: string, name: string): CommandContext => commandContext(h, id, name);

const waitEvent = (pred: (e: StoredEvent) => boolean, timeoutMs = 60_000): Promise<StoredEvent> => waitForEvent(h, pred, timeoutMs);

test('chat: A leases a device, B is told they are second, A releases, B is notified, a stale release by A is refused', async () => {
  const alice = ctx('slack:T1/UA', 'alice');
  const bob = ctx('slack:T1/UB', 'bob');
  await waitEvent((e) => e.type === 'lease.item' && e.item === 'pixel-1' && e.state === 'free');

  const a = await dispatch('lease device for 30m', alice);
  assert.match(a.text, /^Granted: pixel-1 \(device\) is yours until .* — lease (L-\d+)/, a.text);
  const aliceLease = /lease (L-\d+)/.exec(a.text)![1]!;

  const b = await dispatch('lease android pixel-7', bob);
  assert.match(b.text, /you are #1 in line behind alice \(request (L-\d+)\)/, b.text);
  const bobLease = /request (L-\d+)/.exec(b.text)![1]!;

  const board = await dispatch('leases', bob);
  assert.match(board.text, /pixel-1 \[android, pixel-7\]: alice since .* until .* — L-\d+/);
  assert.match(board.text, /#1 in line: bob wants android, pixel-7/);
  const notMine = await dispatch(`release ${aliceLease}`, bob);
  assert.match(notMine.text, /held by alice; only they or a pool admin/);

  const released = await dispatch(`release ${aliceLease}`, alice);
  assert.match(released.text, /^Released pixel-1/);
  const granted = await waitEvent((e) => e.type === 'lease.granted' && e.leaseId === bobLease);
  assert.equal(granted.type === 'lease.granted' && granted.holder.id, 'slack:T1/UB');
  assert.match(granted.type === 'lease.granted' ? granted.text : '', /bob: pixel-1 \(device\) is yours until/);

  const stale = await dispatch(`release ${aliceLease}`, alice);
  assert.match(stale.text, /is released, not active/);
  const renewed = await dispatch(`renew ${bobLease} 1h`, bob);
  assert.match(renewed.text, /^Renewed L-\d+: pixel-1 is yours until/);
  const audit = await h.server.core.audit.list(1000);
  assert.ok(audit.some((e) => e.action === 'lease.release' && e.outcome === 'denied' && e.actorId === 'slack:T1/UA'));
  assert.ok(audit.some((e) => e.action === 'lease.grant' && e.actorId === 'slack:T1/UB'));
});

test('the lease grammar: unknown attributes and bad durations are explained', async () => {
  const carol = ctx('slack:T1/UC', 'carol');
  assert.match((await dispatch('lease ios-17', carol)).text, /no pool has an item with ios-17; pools: device/);
  assert.match((await dispatch('lease device for ever', carol)).text, /Durations look like 30m, 2h or 1d, after the word for, last\.\nusage: lease /);
  assert.match((await dispatch('renew L-999', carol)).text, /there is no lease L-999/);
  assert.match((await dispatch('help lease', carol)).text, /lease \[<pool>\] \[<attribute>…\] \[for <duration>\]/);
});

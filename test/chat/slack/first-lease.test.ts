import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSlackBed, type SlackBed } from './slack-test-bed.js';
import { FakeSlack } from '../../fakes/fake-slack.js';
import { Pools } from '../../../src/leases/pool-config.js';

// Issue 16: the first `lease device` right after a start answered "you are #2 in line" while the
// device was free — new items waited for the janitor's first pass (a second later), and the
// place in line was shown one too high.
let bed: SlackBed | undefined;
after(async () => {
  await bed?.stop();
});

const said = (fake: FakeSlack, user: string, channel: string): string[] => [
  ...fake.ephemerals.filter((e) => e.user === user).map((e) => e.text),
  ...fake.channel(channel).map((t) => FakeSlack.plain(t.root)),
];

test('the first lease right after a start is granted at once; the first waiter is #1 in line', async () => {
  bed = await startSlackBed('socket', {
    pools: {
      device: { items: [{ id: 'pixel-1', attributes: ['android'] }], healthCheck: ['true'], reminderLeadSec: 0 },
      account: { items: [{ id: 'acct-1' }] },
    },
  });
  const fake = bed.fake;
  await bed.command('lease device', 'UFIRST', { channel: 'CL' });
  const first = await fake.waitFor(() => said(fake, 'UFIRST', 'CL')[0], 60_000, 'first lease answer');
  process.stderr.write(`first lease after start: ${first}\n`);
  assert.match(first, /Granted: pixel-1 \(device\)/);

  await bed.command('lease account', 'UACC', { channel: 'CL2' });
  const acct = await fake.waitFor(() => said(fake, 'UACC', 'CL2')[0], 60_000, 'account lease answer');
  assert.match(acct, /Granted: acct-1 \(account\)/, 'an item without a health check is free from the start');

  await bed.command('lease device', 'USECOND', { channel: 'CL3' });
  const second = await fake.waitFor(() => said(fake, 'USECOND', 'CL3')[0], 60_000, 'second lease answer');
  assert.match(second, /you are #1 in line behind/);
});

test('a pool whose reminder lead is not shorter than its default term is a config error', () => {
  assert.throws(
    () => Pools.parse({ device: { items: [{ id: 'p1' }], defaultTtlSec: 600, reminderLeadSec: 600 } }),
    /reminder lead \(600 s\) must be shorter than the default lease term/,
  );
  assert.doesNotThrow(() => Pools.parse({ device: { items: [{ id: 'p1' }], defaultTtlSec: 601, reminderLeadSec: 600 } }));
});

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSlackBed, type SlackBed } from './slack-test-bed.js';
import { actionIds } from '../../../src/chat/slack/render-build.js';

let bed: SlackBed | undefined;
after(async () => {
  await bed?.stop();
});

const buttonsOf = (m: { blocks?: any[] }) =>
  (m.blocks ?? []).filter((b) => b.type === 'actions').flatMap((b) => b.elements.map((e: { action_id: string; value: string }) => e));

test('the lease reminder DM carries Extend / Release buttons; Extend renews as the clicker and the reminder becomes the outcome', async () => {
  // A lead longer than the lease: the reminder comes at once.
  bed = await startSlackBed('socket', { pools: { device: { items: [{ id: 'pixel-1' }], reminderLeadSec: 600 } } });
  const { fake } = bed;
  await bed.command('lease device for 5m', 'UREM', { channel: 'CR' });
  const reminder = await fake.waitFor(
    () => [...fake.messages.values()].find((m) => m.channel === 'DUREM' && /Extend or release it\?/.test(m.text)),
    60_000,
    'reminder DM',
  );
  assert.match(reminder.text, /ends at <!date\^\d+\^\{date_short_pretty\} \{time\}\|\d+ \w{3} \d\d:\d\d UTC>/, 'the end time is a Slack date');
  const buttons = buttonsOf(reminder);
  assert.deepEqual(
    buttons.map((b) => b.action_id),
    [actionIds.leaseExtend, actionIds.leaseRelease],
  );
  const extend = buttons[0]!.value;
  assert.match(extend, /^renew L-\d+/);

  await bed.click(actionIds.leaseExtend, extend, 'UOTHER', { channel: 'DUREM', ts: reminder.ts });
  const refused = await fake.waitFor(
    () => [...fake.messages.values()].find((m) => m.channel === 'DUREM' && /held by UREM|only they or a pool admin/.test(m.text)),
    60_000,
    'someone else is refused',
  );
  assert.ok(refused);
  assert.equal(buttonsOf(fake.messages.get(reminder.ts)!).length, 2, 'a refused click leaves the buttons');

  await bed.click(actionIds.leaseExtend, extend, 'UREM', { channel: 'DUREM', ts: reminder.ts });
  const done = await fake.waitFor(
    () => {
      const m = fake.messages.get(reminder.ts)!;
      return /Renewed L-\d+: pixel-1 is yours until/.test(m.text) ? m : null;
    },
    60_000,
    'reminder replaced by the outcome',
  );
  assert.equal(buttonsOf(done).length, 0, 'no buttons after the click');
});

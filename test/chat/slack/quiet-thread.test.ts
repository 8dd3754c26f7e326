import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSlackBed, buildIdOf, type SlackBed } from './slack-test-bed.js';
import { FakeSlack, type SlackCall } from '../../fakes/fake-slack.js';

let bed: SlackBed;
before(async () => {
  bed = await startSlackBed('socket');
});
after(async () => {
  await bed?.stop();
});

const writeMethods = new Set(['chat.postMessage', 'chat.update', 'conversations.open', 'files.completeUploadExternal']);

/** Slack writes (posts, updates, DMs opened, files), in the order Slack got them; the bed runs one build. */
function writesOf(fake: FakeSlack): SlackCall[] {
  return fake.calls.filter((c) => c.status === 200 && writeMethods.has(c.method));
}

test('the demo build: no identical edit, stage replies before the final root, no DM for a success; write count printed', async () => {
  const { fake, h } = bed;
  await bed.command('build demo#master', 'UQUIET', { channel: 'CQ' });
  const thread = await fake.waitFor(() => fake.channel('CQ')[0], 10_000, 'root');
  const id = buildIdOf(thread.root.text);
  await h.waitDone(id);
  await fake.waitFor(() => /: success/.test(fake.messages.get(thread.root.ts)!.text), 10_000, 'final root');
  await new Promise((r) => setTimeout(r, 1500)); // anything late would arrive now

  const writes = writesOf(fake);
  const posts = writes.filter((c) => c.method === 'chat.postMessage').length;
  const updates = writes.filter((c) => c.method === 'chat.update');
  const identical = fake.identicalUpdates;
  process.stderr.write(
    `demo build Slack writes: ${writes.length} (${posts} posts, ${updates.length} chat.update, ${identical} identical updates, ${fake.callsOf('conversations.open').length} DMs opened)\n`,
  );

  assert.equal(identical, 0, 'no chat.update repeats the content last sent for that message');
  assert.equal(fake.callsOf('conversations.open').length, 0, 'a successful build does not DM its requester by default');
  const finalRoot = writes.findIndex((c) => c.method === 'chat.update' && c.args.ts === thread.root.ts && /: success/.test(String(c.args.text)));
  const lastReply = writes.findLastIndex((c) => c.method === 'chat.postMessage' && c.args.thread_ts === thread.root.ts);
  assert.ok(finalRoot > lastReply, `stage replies come before the root says success (final root at ${finalRoot}, last reply at ${lastReply})`);
  assert.ok(writes.length <= 12, `the demo build makes at most 12 Slack writes (made ${writes.length})`);
});

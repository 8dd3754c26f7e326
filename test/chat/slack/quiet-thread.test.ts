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

test('the demo build makes at most 5 Slack writes (printed): the root is its summary, no identical edit, no DM for a success', async () => {
  const { fake, h } = bed;
  await bed.command('build demo#master', 'UQUIET', { channel: 'CQ' });
  const thread = await fake.waitFor(() => fake.channel('CQ')[0], 30_000, 'root');
  const id = buildIdOf(thread.root.text);
  await h.waitDone(id);
  await fake.waitFor(() => /: success/.test(fake.messages.get(thread.root.ts)!.text), 30_000, 'final root');
  await new Promise((r) => setTimeout(r, 1500)); // anything late would arrive now

  const writes = writesOf(fake);
  const posts = writes.filter((c) => c.method === 'chat.postMessage' && !isDm(fake, c)).length;
  const updates = writes.filter((c) => c.method === 'chat.update');
  const dms = fake.callsOf('conversations.open').length;
  const files = writes.filter((c) => c.method === 'files.completeUploadExternal').length;
  const identical = fake.identicalUpdates;
  process.stderr.write(
    `demo build Slack writes: ${writes.length} (${posts} posts, ${updates.length} chat.update, ${dms} DMs, ${files} files; ${identical} identical updates)\n` +
      writes
        .map(
          (c) =>
            `  ${c.method} ${String(c.args.text ?? '')
              .split('\n')[0]!
              .slice(0, 100)}\n`,
        )
        .join(''),
  );

  assert.equal(identical, 0, 'no chat.update repeats the content last sent for that message');
  assert.equal(dms, 0, 'a successful build does not DM its requester by default');
  const finalRoot = writes.findIndex((c) => c.method === 'chat.update' && c.args.ts === thread.root.ts && /: success/.test(String(c.args.text)));
  const lastReply = writes.findLastIndex((c) => c.method === 'chat.postMessage' && c.args.thread_ts === thread.root.ts);
  assert.ok(finalRoot > lastReply, `any thread reply comes before the root says success (final root at ${finalRoot}, last reply at ${lastReply})`);
  assert.ok(writes.length <= 5, `the demo build makes at most 5 Slack writes in total (made ${writes.length})`);

  // The root is the build's summary: every stage and step with its duration, and the web log's link.
  const root = fake.messages.get(thread.root.ts)!;
  const summary = JSON.stringify(root.blocks ?? []);
  for (const line of [
    /:white_check_mark: \*test\* \d+(ms|s)/,
    /:white_check_mark: unit \d+(ms|s)/,
    /:white_check_mark: lint \d+(ms|s)/,
    /:white_check_mark: \*e2e\* \d+(ms|s)/,
    /:white_check_mark: smoke \d+(ms|s)/,
  ])
    assert.match(summary, line);
});

/** A post into a DM channel opened by `conversations.open` (the fake names them `D…`). */
function isDm(_fake: FakeSlack, call: SlackCall): boolean {
  return /^D/.test(String(call.args.channel));
}

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSlackBed, buildIdOf, type SlackBed } from './slack-test-bed.js';
import { makeRepo } from '../../support/git-repo.js';

let bed: SlackBed;
before(async () => {
  bed = await startSlackBed('socket', {}, { logEditIntervalMs: 1000, logEditsPerMinute: 120, liveLogAfterMs: 1000 });
});
after(async () => {
  await bed?.stop();
});

const chattySpec = [
  'version: 1',
  'image: any',
  'stages:',
  '  test:',
  '    steps:',
  '      - name: chatty',
  '        run: "for j in $(seq 0 9); do for i in $(seq 1 500); do echo line $((j*500+i)); done; sleep 0.3; done"',
  '',
].join('\n');

test('a step that prints for longer than liveLogAfterMs gets a live log; 5,000 lines cause at most 10 root-message writes; a 429 with Retry-After loses no lines (R24)', async () => {
  const { fake, h } = bed;
  const repo = await makeRepo(h.dataDir, 'chatty', { 'bosun.yml': chattySpec });
  h.server.core.config.repos.chatty = { url: repo.url, defaultBranch: 'master', secrets: [] };
  await bed.command('build chatty#master', 'UDEV', { channel: 'C5' });
  const thread = await fake.waitFor(() => fake.channel('C5')[0], 60_000, 'root message');
  const id = buildIdOf(thread.root.text);
  const logMsg = await fake.waitFor(() => fake.channel('C5')[0]!.replies.find((r) => /Log of test › chatty/.test(r.text)), 60_000, 'live log message');
  fake.failNext('chat.update', 429, 1, (args) => args.ts === logMsg.ts);

  await h.waitDone(id);
  const final = await fake.waitFor(
    () => {
      const m = fake.messages.get(logMsg.ts)!;
      return !/\(live\)/.test(m.text) ? m : null;
    },
    60_000,
    'final log edit',
  );
  await fake.waitFor(() => /: success/.test(fake.messages.get(thread.root.ts)!.text), 60_000, 'final root status');

  const rootWrites = fake.calls.filter(
    (c) =>
      (c.method === 'chat.update' || c.method === 'chat.postMessage') &&
      (c.args.ts === thread.root.ts || (c.method === 'chat.postMessage' && c.args.channel === 'C5' && !c.args.thread_ts)),
  );
  const logEdits = fake.calls.filter((c) => c.method === 'chat.update' && c.args.ts === logMsg.ts);
  const rateLimited = fake.calls.filter((c) => c.status === 429);
  console.log(`root writes: ${rootWrites.length}; log edits: ${logEdits.length} (429s: ${rateLimited.length}); log message edits applied: ${final.edits}`);
  assert.ok(rootWrites.length <= 10, `${rootWrites.length} root writes`);
  assert.equal(rateLimited.length, 1, 'the fake answered one 429');
  assert.equal(rateLimited[0]!.args.ts, logMsg.ts, 'on a live-log edit');
  const numbers = [...final.text.matchAll(/^line (\d+)$/gm)].map((m) => Number(m[1]));
  assert.equal(numbers[numbers.length - 1], 5000, 'the last line is shown');
  numbers.forEach((n, i) => i > 0 && assert.equal(n, numbers[i - 1]! + 1, 'the excerpt is contiguous: no line lost'));
  assert.ok(final.text.length < 4000, 'the excerpt stays within ~3.5k characters');
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeRepo } from '../../support/git-repo.js';
import { buildIdOf, people, startZulipBed, type ZulipBed } from './zulip-test-bed.js';

let bed: ZulipBed;
before(async () => {
  bed = await startZulipBed({}, { logEditIntervalMs: 1000, logEditsPerMinute: 120, streams: { chatty: 'ci' } });
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
  '        run: "for j in $(seq 0 9); do for i in $(seq 1 500); do echo line $((j*500+i)); done; sleep 0.8; done"',
  '',
].join('\n');

test('a 429 storm during a 5,000-line log: Retry-After is waited out by every call, few root edits, no line lost (R24)', async () => {
  const { fake, h } = bed;
  const repo = await makeRepo(h.dataDir, 'chatty', { 'bosun.yml': chattySpec });
  h.server.core.config.repos.chatty = { url: repo.url, defaultBranch: 'master', secrets: [] };
  fake.say(people.dev, { stream: 'ci', topic: 'asks' }, '@**Bosun** build chatty#master');
  const topic = await fake.waitFor(() => fake.topics('ci').find((t) => /^build #\d+ chatty#master$/.test(t)), 60_000, 'the topic');
  const root = fake.topic('ci', topic)[0]!;
  const id = buildIdOf(root.content);
  const logMsg = await fake.waitFor(() => fake.topic('ci', topic).find((m) => /Log of test › chatty/.test(m.content)), 60_000, 'the live log message');

  // The storm: two of every three writes are refused with Retry-After: 1 until the build ends.
  let n = 0;
  fake.rateLimit = (c) => ((c.method === 'PATCH' || c.method === 'POST') && ++n % 3 !== 0 ? 1 : null);
  await h.waitDone(id);
  fake.rateLimit = null;
  const final = await fake.waitFor(
    () => {
      const m = fake.messages.get(logMsg.id)!;
      return !/\(live\)/.test(m.content) ? m : null;
    },
    30_000,
    'the final log edit',
  );
  await fake.waitFor(() => /: success\*\*/.test(fake.messages.get(root.id)!.content), 60_000, 'the final root status');

  const writes = fake.calls.filter((c) => c.method === 'PATCH' || (c.method === 'POST' && c.path === '/api/v1/messages'));
  const limited = writes.filter((c) => c.status === 429);
  const rootWrites = writes.filter((c) => c.path === `/api/v1/messages/${root.id}` && c.status === 200);
  const logEdits = writes.filter((c) => c.path === `/api/v1/messages/${logMsg.id}`);
  console.log(
    `writes: ${writes.length} (429s: ${limited.length}); root edits applied: ${rootWrites.length}; log edits tried: ${logEdits.length}, applied: ${final.edits}`,
  );
  assert.ok(limited.length >= 3, `${limited.length} 429s: the storm happened`);
  for (const refused of limited) {
    const early = writes.find((c) => c.at > refused.at && c.at < refused.at + 900);
    assert.equal(early, undefined, `a write ${early ? early.at - refused.at : 0} ms after a 429 with Retry-After: 1`);
  }
  assert.ok(rootWrites.length <= 10, `${rootWrites.length} root edits`);
  const numbers = [...final.content.matchAll(/^line (\d+)$/gm)].map((m) => Number(m[1]));
  assert.equal(numbers[numbers.length - 1], 5000, 'the last line is shown');
  numbers.forEach((x, i) => i > 0 && assert.equal(x, numbers[i - 1]! + 1, 'the excerpt is contiguous: no line lost'));
  assert.ok(final.content.length < 4000, 'the excerpt stays within ~3.5k characters');
});

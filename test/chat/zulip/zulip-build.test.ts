import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeRepo } from '../../support/git-repo.js';
import { buildIdOf, people, startZulipBed, type ZulipBed } from './zulip-test-bed.js';

const leakedSecret = 'hunter2-very-secret-value';
const failingSpec = [
  'version: 1',
  'image: any',
  'stages:',
  '  test:',
  '    steps:',
  '      - name: unit',
  `        run: "for i in $(seq 1 60); do echo output line $i; done; echo token=${leakedSecret}; echo 'boom @**all** \`\`\`spoiler'; exit 3"`,
  '',
].join('\n');

let bed: ZulipBed;
before(async () => {
  bed = await startZulipBed({ secrets: { LEAKY: leakedSecret }, http: { host: '127.0.0.1', port: 0, publicUrl: 'http://ci.test' } });
});
after(async () => {
  await bed?.stop();
});

test('a stream mention `@**Bosun** build demo#master` tells the build in its own topic, root edited in place', async () => {
  const { fake, h } = bed;
  fake.say(people.dev, { stream: 'ci', topic: 'general' }, '@**Bosun** build demo#master');

  const confirm = await fake.waitFor(() => fake.topic('ci', 'general').find((m) => m.sender_id === fake.bot.user_id), 60_000, 'the confirmation');
  assert.match(confirm.content, /^@_\*\*Dana Dev\|7\*\*_ Queued #\d+/);
  assert.match(confirm.content, /Follow it in #\*\*ci>build #\d+ demo#master\*\*/);
  const topic = fake.topics('ci').find((t) => /^build #\d+ demo#master$/.test(t));
  assert.ok(topic, `topics: ${fake.topics('ci').join(', ')}`);
  const id = buildIdOf(fake.topic('ci', topic)[0]!.content);
  await h.waitDone(id);

  const story = await fake.waitFor(
    () => {
      const msgs = fake.topic('ci', topic);
      const root = msgs[0]!;
      const logDone = msgs.some((m) => /Log of e2e › smoke\n/.test(m.content));
      return /: success\*\*/.test(root.content) && /\*\*e2e\*\* success/.test(root.content) && logDone ? msgs : null;
    },
    60_000,
    'the finished story',
  );
  const root = story[0]!;
  assert.match(root.content, /started by @_\*\*Dana Dev\|7\*\*_ via zulip/);
  assert.match(root.content, /Commit `[0-9a-f]{7}`/);
  assert.match(root.content, /\[build page\]\(http:\/\/ci\.test\/builds\/\d+\)/);
  assert.match(root.content, /- :check: \*\*test\*\* success \d+(ms|s) — unit \d+(ms|s), lint \d+(ms|s)/, 'durations on every stage and step line');
  assert.ok(root.edits >= 2, 'the root message is edited in place');
  const unitLogs = story.filter((m) => /Log of test › unit/.test(m.content));
  assert.equal(unitLogs.length, 1, 'one log message per step, edited in place');
  assert.match(unitLogs[0]!.content, /```text\n/);
  const dm = await fake.waitFor(
    () => fake.dms(people.dev).find((m) => new RegExp(`#${id} demo#master finished: \\*\\*success\\*\\*`).test(m.content)),
    60_000,
    'the DM',
  );
  assert.match(dm.content, /#\*\*ci>build #\d+ demo#master\*\*/);
});

test('a DM `build demo#master` starts a build whose topic goes to the repository stream; the answer stays in the DM', async () => {
  const { fake, h } = bed;
  const before = fake.topics('ci').length;
  fake.say(people.alice, 'dm', 'build demo#master');
  const reply = await fake.waitFor(
    () => fake.dms(people.alice).find((m) => m.sender_id === fake.bot.user_id && /Queued #/.test(m.content)),
    60_000,
    'the DM answer',
  );
  const id = /Queued #(\d+)/.exec(reply.content)![1]!;
  assert.equal(fake.topics('ci').length, before + 1);
  const build = await h.waitDone(id);
  assert.equal(build.trigger.actor.id, fake.actorId(people.alice), 'the actor is the stable Zulip id');
  assert.equal(build.status, 'success');
  fake.say(people.alice, 'dm', '@bosun help');
  const help = await fake.waitFor(() => fake.dms(people.alice).find((m) => /Bosun commands/.test(m.content)), 60_000, 'help');
  assert.match(help.content, /^```text\n/);
});

test('a failing build: the failing lines (escaped, secrets redacted) and a link to the full log in its topic', async () => {
  const { fake, h } = bed;
  const repo = await makeRepo(h.dataDir, 'broken', { 'bosun.yml': failingSpec });
  h.server.core.config.repos.broken = { url: repo.url, defaultBranch: 'master', secrets: [] };
  fake.say(people.dev, { stream: 'builds', topic: 'asks' }, '@**Bosun|100** build broken#master');
  const topic = await fake.waitFor(
    () => fake.topics('builds').find((t) => /^build #\d+ broken#master$/.test(t)),
    60_000,
    'the topic in the stream it was asked in',
  );
  const id = buildIdOf(fake.topic('builds', topic)[0]!.content);
  assert.equal((await h.waitDone(id)).status, 'failed');
  const failure = await fake.waitFor(
    () => fake.topic('builds', topic).find((m) => /Step test › unit failed \(exit 3\)/.test(m.content)),
    60_000,
    'the failure message',
  );
  assert.match(failure.content, /output line 60/);
  assert.doesNotMatch(failure.content, /output line 20\n/, 'only the last ~30 lines');
  assert.match(failure.content, /Full log: \[build #\d+\]\(http:\/\/ci\.test\/builds\/\d+\)/);
  assert.match(failure.content, /boom @\*\*all\*\* `\u200b`\u200b`spoiler/, 'a log line cannot close the code block (R12)');
  assert.equal(failure.content.split('```').length - 1, 2, 'exactly our two fences');
  await fake.waitFor(() => /: failed\*\*/.test(fake.topic('builds', topic)[0]!.content), 60_000, 'failed root');
  assert.match(fake.topic('builds', topic)[0]!.content, /`@\*\*Bosun\*\* retry \d+`/);
  const everything = JSON.stringify(fake.calls) + [...fake.messages.values()].map((m) => m.content).join('');
  assert.ok(!everything.includes(leakedSecret), 'no secret reaches Zulip (R13)');
  await fake.waitFor(() => fake.dms(people.dev).find((m) => new RegExp(`#${id} broken#master finished: \\*\\*failed\\*\\*`).test(m.content)), 60_000, 'the DM');
});

test('a bad command in a stream is answered by DM only; a message not addressed to Bosun is ignored', async () => {
  const { fake } = bed;
  fake.say(people.bob, { stream: 'ci', topic: 'chat' }, 'lunch? @**all**');
  fake.say(people.bob, { stream: 'ci', topic: 'chat' }, '@**Bosun** biuld demo');
  await fake.waitFor(() => fake.dms(people.bob).find((m) => /Unknown command "biuld"/.test(m.content)), 60_000, 'the DM');
  assert.equal(fake.topic('ci', 'chat').filter((m) => m.sender_id === fake.bot.user_id).length, 0);
});

test('the per-person build limit holds in Zulip too, answered by DM (R27)', async () => {
  const { fake, h } = bed;
  const limit = h.server.core.config.limits.buildsPerMinute;
  for (let i = 0; i <= limit; i++) fake.say(people.qa2, { stream: 'ci', topic: 'spam' }, `@**Bosun** build nosuch${i}#master`);
  await fake.waitFor(
    () => fake.dms(people.qa2).find((m) => /slow down: at most \d+ builds a minute per person/.test(m.content)),
    60_000,
    'the slow-down answer',
  );
});

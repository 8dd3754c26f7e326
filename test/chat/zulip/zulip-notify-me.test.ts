import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { buildIdOf, people, startZulipBed, type ZulipBed } from './zulip-test-bed.js';

let bed: ZulipBed;
before(async () => {
  bed = await startZulipBed(); // zulip.dmOnFinish: true, the default: every finish is DMed
});
after(async () => {
  await bed?.stop();
});

/** DMs the bot `text` as `user` and returns the bot's DM answer. */
async function ask(user: number, text: string): Promise<string> {
  const seen = bed.fake.dms(user).length;
  bed.fake.say(user, 'dm', text);
  const answer = await bed.fake.waitFor(
    () =>
      bed.fake
        .dms(user)
        .slice(seen)
        .find((m) => m.sender_id === bed.fake.bot.user_id),
    30_000,
    `answer to ${text}`,
  );
  return answer.content;
}

/** `build demo#master` in the stream as `user`; the build's id once its root says success. */
async function build(user: number): Promise<string> {
  const topicsBefore = new Set(bed.fake.topics('ci'));
  bed.fake.say(user, { stream: 'ci', topic: 'general' }, '@**Bosun** build demo#master');
  const topic = await bed.fake.waitFor(() => bed.fake.topics('ci').find((t) => !topicsBefore.has(t) && /^build #\d+/.test(t)), 30_000, 'the topic');
  const id = buildIdOf(bed.fake.topic('ci', topic)[0]!.content);
  await bed.h.waitDone(id);
  return id;
}

const finishedDms = (user: number) => bed.fake.dms(user).filter((m) => /finished:/.test(m.content));

test('Zulip: `notify me` shows the default (always, from dmOnFinish); `notify me never` stops the DM a finished build sends', async () => {
  assert.match(await ask(people.alice, 'notify me'), /\(always: the server default/);
  assert.match(await ask(people.alice, 'notify me never'), /Done: you get no DMs about your builds \(never\)/);
  const quiet = await build(people.alice);
  // A control build after it, by a user on the default: events reach the reporter in stream order,
  // so once the control's DM is there, a DM about alice's build would be too.
  const control = await build(people.bob);
  await bed.fake.waitFor(() => finishedDms(people.bob).find((m) => m.content.includes(`#${control} `)), 30_000, 'the control DM');
  assert.deepEqual(
    finishedDms(people.alice).map((m) => m.content),
    [],
    `no DM about build #${quiet} for the user who chose never`,
  );
});

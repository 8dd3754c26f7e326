import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeRepo } from '../../support/git-repo.js';
import { waitForEvent } from '../../support/lease-helpers.js';
import { buildIdOf, people, startZulipBed, type ZulipBed } from './zulip-test-bed.js';

const gatedSpec = [
  'version: 1',
  'image: any',
  'stages:',
  '  test:',
  '    steps:',
  '      - name: unit',
  '        run: echo ok',
  '    checkpoint:',
  '      kind: approval',
  '      instructions: "Try checkout on staging. @**all** [click](http://evil)"',
  '      checklist: [Login works]',
  '      timeout: 4h',
  '      approvers: qa',
  '  deploy:',
  '    needs: [test]',
  '    steps:',
  '      - name: go',
  '        run: echo deployed',
  '',
].join('\n');

let bed: ZulipBed;
before(async () => {
  bed = await startZulipBed({
    pools: { device: { items: [{ id: 'pixel-1', attributes: ['android'] }], healthCheck: ['true'], reminderLeadSec: 0 } },
  });
  // The approver group mixes platforms: two Zulip people and a Slack person, by stable id.
  bed.h.server.core.config.groups.qa = [bed.fake.actorId(people.qa1), bed.fake.actorId(people.qa2), 'slack:T1/UQA'];
});
after(async () => {
  await bed?.stop();
});

test('approvals by reaction: the requester and an outsider are told why by DM, an approver decides once, a double reaction is one decision', async () => {
  const { fake, h } = bed;
  const repo = await makeRepo(h.dataDir, 'gated', { 'bosun.yml': gatedSpec });
  h.server.core.config.repos.gated = { url: repo.url, defaultBranch: 'master', secrets: [] };
  fake.say(people.dev, { stream: 'ci', topic: 'release' }, '@**Bosun** build gated#master');
  const topic = await fake.waitFor(() => fake.topics('ci').find((t) => /^build #\d+ gated#master$/.test(t)), 60_000, 'the topic');
  const id = buildIdOf(fake.topic('ci', topic)[0]!.content);
  const card = await fake.waitFor(
    () => fake.topic('ci', topic).find((m) => /Approval needed/.test(m.content) && m.reactions.length === 2),
    60_000,
    'the card with its two reactions',
  );
  assert.match(card.content, /\*\*Approval needed\*\* for stage \*\*test\*\* of \[build #\d+\]\(http:\/\/[^)]+\/builds\/\d+\)/, 'linked to the build page');
  assert.match(card.content, /@\u200b\*\*all\*\* \[click\]\u200b\(http:\/\/evil\)/, 'instructions cannot ping or hide links (R12)');
  assert.match(card.content, /- Login works/);
  assert.match(card.content, /React :check: to approve or :cross_mark: to reject/);
  assert.deepEqual(
    card.reactions.map((r) => r.emoji_name),
    ['check', 'cross_mark'],
    'the bot offers the two reactions',
  );
  await fake.waitFor(() => fake.dms(people.dev).find((m) => /is waiting at stage test for qa/.test(m.content)), 60_000, 'the DM to the requester');

  fake.react(people.dev, card.id, 'check');
  await fake.waitFor(() => fake.dms(people.dev).find((m) => /no self-approval/.test(m.content)), 60_000, 'the refusal to the requester');
  fake.react(people.outsider, card.id, 'check');
  await fake.waitFor(() => fake.dms(people.outsider).find((m) => /not in the approver group "qa"/.test(m.content)), 60_000, 'the refusal to the outsider');
  fake.react(people.outsider, card.id, 'octopus');
  assert.equal((await h.server.core.store.get(id))!.status, 'waiting', 'refused reactions change nothing');

  fake.react(people.qa1, card.id, 'check');
  fake.react(people.qa2, card.id, '+1');
  const done = await h.waitDone(id);
  assert.equal(done.status, 'success');
  assert.equal(done.stages[1]!.status, 'success', 'the pipeline continues');
  const decided = await fake.waitFor(
    () => (/Approved\*\* by/.test(fake.messages.get(card.id)!.content) ? fake.messages.get(card.id)! : null),
    60_000,
    'the card shows the decision',
  );
  assert.match(decided.content, /^:check: \*\*Approved\*\* by @_\*\*qa1\|8\*\*_ at /);
  await fake.waitFor(() => fake.dms(people.qa2).find((m) => /already decided by qa1/.test(m.content)), 60_000, 'the second approver is told');
  const passes = (await h.server.core.audit.list(1000)).filter((a) => a.action === 'checkpoint.pass' && a.buildId === id && a.outcome === 'ok');
  assert.equal(passes.length, 1, 'a double reaction is one decision');
  assert.equal(passes[0]!.actorId, fake.actorId(people.qa1));
});

test('a text command `@**Bosun** reject 42` decides too, by the stable id of its sender', async () => {
  const { fake, h } = bed;
  h.server.core.config.zulip!.streams.gated = 'ci'; // a DM has no stream of its own: the repository's is used
  fake.say(people.dev, 'dm', 'build gated#master');
  const reply = await fake.waitFor(() => fake.dms(people.dev).find((m) => /Queued #\d+ gated/.test(m.content)), 60_000, 'the answer');
  const id = /Queued #(\d+)/.exec(reply.content)![1]!;
  await h.waitFor(id, (b) => b.status === 'waiting', 60_000);
  fake.say(people.qa2, { stream: 'ci', topic: 'release' }, `@**Bosun** reject ${id}`);
  assert.equal((await h.waitDone(id)).status, 'failed');
  const topic = fake.topics('ci').find((t) => t.startsWith(`build #${id} `))!;
  await fake.waitFor(
    () => fake.topic('ci', topic).find((m) => /^:cross_mark: \*\*Rejected\*\* by @_\*\*qa2\|9\*\*_/.test(m.content)),
    60_000,
    'the card shows the rejection',
  );
});

test('a reaction made while the event queue was lost is read back from the open card after re-registering', async () => {
  const { fake, h } = bed;
  fake.say(people.dev, { stream: 'ci', topic: 'release' }, '@**Bosun** build gated#master');
  const id = await fake.waitFor(
    () => {
      const t = fake
        .topics('ci')
        .filter((x) => /^build #\d+ gated#master$/.test(x))
        .at(-1);
      const card = t
        ? fake.topic('ci', t).find((m) => /Approval needed/.test(m.content) && m.reactions.length === 2 && !/Approved|Rejected/.test(m.content))
        : undefined;
      return card ? { card: card.id, build: buildIdOf(fake.topic('ci', t!)[0]!.content) } : null;
    },
    60_000,
    'a new card',
  );
  const registered = fake.callsOf('POST', /^\/api\/v1\/register$/).length;
  fake.expireQueues();
  fake.react(people.qa1, id.card, 'check'); // no queue exists: no event carries it
  assert.equal((await h.waitDone(id.build)).status, 'success');
  assert.equal(fake.callsOf('POST', /^\/api\/v1\/register$/).length, registered + 1);
  assert.ok(fake.callsOf('GET', new RegExp(`^/api/v1/messages/${id.card}$`)).length >= 1, 'the open card was read back');
});

test('a lease hand-over between two Zulip users: granted, waiting, released, granted by DM', async () => {
  const { fake, h } = bed;
  await waitForEvent(h, (e) => e.type === 'lease.item' && e.item === 'pixel-1' && e.state === 'free', 60_000);
  fake.say(people.alice, 'dm', '@bosun lease device for 30m');
  const granted = await fake.waitFor(() => fake.dms(people.alice).find((m) => /^Granted: pixel-1/.test(m.content)), 60_000, 'alice is granted');
  const aliceLease = /lease (L-\d+)/.exec(granted.content)![1]!;
  fake.say(people.bob, { stream: 'ci', topic: 'devices' }, '@**Bosun** lease android');
  const waiting = await fake.waitFor(() => fake.topic('ci', 'devices').find((m) => /you are #1 in line behind alice/.test(m.content)), 60_000, 'bob waits');
  const bobLease = /request (L-\d+)/.exec(waiting.content)![1]!;
  fake.say(people.bob, 'dm', `release ${aliceLease}`);
  await fake.waitFor(() => fake.dms(people.bob).find((m) => /held by alice; only they or a pool admin/.test(m.content)), 60_000, 'bob cannot release it');
  fake.say(people.alice, 'dm', `release ${aliceLease}`);
  const told = await fake.waitFor(
    () => fake.dms(people.bob).find((m) => /bob: pixel-1 \(device\) is yours until/.test(m.content)),
    60_000,
    'bob is told by DM',
  );
  assert.match(told.content, new RegExp(`Give it back: \`@\\*\\*Bosun\\*\\* release ${bobLease}\``));
  const audit = await h.server.core.audit.list(1000);
  assert.ok(audit.some((e) => e.action === 'lease.grant' && e.actorId === fake.actorId(people.bob)));
});

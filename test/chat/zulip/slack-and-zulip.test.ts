import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { FakeSlack } from '../../fakes/fake-slack.js';
import { FakeZulip } from '../../fakes/fake-zulip.js';
import { buttonClick, slashCommand } from '../../fakes/fake-slack-requests.js';
import { startHarness, type Harness } from '../../support/bosun-harness.js';
import { makeRepo } from '../../support/git-repo.js';
import { actionIds } from '../../../src/chat/slack/render-build.js';
import type { ServerConfigInput } from '../../../src/config.js';
import { buildIdOf, people, zulipSection } from './zulip-test-bed.js';

// One Bosun serves Slack (Socket Mode) and Zulip (event queue) at once; the approver group
// mixes a Slack id and a Zulip id.
let h: Harness;
let slack: FakeSlack;
let zulip: FakeZulip;
before(async () => {
  slack = await FakeSlack.start();
  zulip = await FakeZulip.start();
  for (const [name, id] of Object.entries(people)) zulip.addUser(id, name);
  h = await startHarness({
    slack: {
      mode: 'socket',
      botToken: 'xoxb-test',
      appToken: 'xapp-test',
      apiUrl: slack.apiUrl,
      defaultChannel: 'C9',
      logEditIntervalMs: 200,
      logEditsPerMinute: 600,
    },
    zulip: zulipSection(zulip),
    groups: { release: ['slack:T1/UREL', zulip.actorId(people.qa1)] },
  } as unknown as ServerConfigInput);
  await slack.connected();
  await zulip.waitFor(() => zulip.calls.some((c) => c.path === '/api/v1/events'), 60_000, 'an event poll');
});
after(async () => {
  await h?.stop();
  await slack?.stop();
  await zulip?.stop();
});

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
  '      instructions: Ship it?',
  '      timeout: 4h',
  '      approvers: release',
  '  deploy:',
  '    needs: [test]',
  '    steps:',
  '      - name: go',
  '        run: echo deployed',
  '',
].join('\n');

test('one Bosun, both chats: commands work in each', async () => {
  await slack.sendEnvelope('slash_commands', slashCommand('status', 'UDEV'));
  zulip.say(people.dev, 'dm', 'status');
  await slack.waitFor(() => slack.ephemerals.find((e) => e.user === 'UDEV'), 60_000, 'the Slack answer');
  await zulip.waitFor(() => zulip.dms(people.dev).find((m) => m.sender_id === zulip.bot.user_id), 60_000, 'the Zulip answer');
});

test('a build started in Zulip is approved from Slack by a mixed approver group; both conversations show the decision', async () => {
  const repo = await makeRepo(h.dataDir, 'gated', { 'bosun.yml': gatedSpec });
  h.server.core.config.repos.gated = { url: repo.url, defaultBranch: 'master', secrets: [] };
  zulip.say(people.dev, { stream: 'ci', topic: 'release' }, '@**Bosun** build gated#master');
  const topic = await zulip.waitFor(() => zulip.topics('ci').find((t) => /^build #\d+ gated#master$/.test(t)), 60_000, 'the Zulip topic');
  const id = buildIdOf(zulip.topic('ci', topic)[0]!.content);
  const zulipCard = await zulip.waitFor(() => zulip.topic('ci', topic).find((m) => /Approval needed/.test(m.content)), 60_000, 'the Zulip card');
  const slackCard = await slack.waitFor(() => slack.channel('C9')[0]?.replies.find((r) => r.text.includes('Approval needed')), 60_000, 'the Slack card');
  assert.match(FakeSlack.plain(slack.channel('C9')[0]!.root), new RegExp(`Build #${id} gated#master`), 'Slack tells the Zulip build in its default channel');

  await slack.sendEnvelope(
    'interactive',
    buttonClick(actionIds.pass, `${id}|test`, 'UREL', { channel: 'C9', ts: slackCard.ts, thread_ts: slackCard.thread_ts! }),
  );
  const done = await h.waitDone(id);
  assert.equal(done.status, 'success');
  assert.equal(done.stages[0]!.checkpointState!.decision!.actor.id, 'slack:T1/UREL');

  const z = await zulip.waitFor(
    () => (/Approved\*\*/.test(zulip.messages.get(zulipCard.id)!.content) ? zulip.messages.get(zulipCard.id)! : null),
    60_000,
    'the Zulip card decided',
  );
  assert.match(z.content, /^:check: \*\*Approved\*\* by urel \(slack\) at /);
  const s = await slack.waitFor(
    () => (slack.messages.get(slackCard.ts)!.text.includes('Approved by <@UREL>') ? slack.messages.get(slackCard.ts)! : null),
    60_000,
    'the Slack card decided',
  );
  assert.ok(!s.blocks?.some((b) => b.type === 'actions'), 'no buttons after the decision');
  await zulip.waitFor(() => /: success\*\*/.test(zulip.topic('ci', topic)[0]!.content), 60_000, 'the Zulip root finished');
  await zulip.waitFor(
    () => zulip.dms(people.dev).find((m) => new RegExp(`#${id} gated#master finished: \\*\\*success\\*\\*`).test(m.content)),
    60_000,
    'the Zulip requester is told',
  );
});

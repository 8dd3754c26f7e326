import assert from 'node:assert/strict';
import { FakeSlack } from '../../fakes/fake-slack.js';
import { makeRepo } from '../../support/git-repo.js';
import { actionIds } from '../../../src/chat/slack/render-build.js';
import { buildIdOf, type SlackBed } from './slack-test-bed.js';

/** Server config for the checkpoint scenario: QA approvers by stable Slack id. */
export const checkpointConfig = { groups: { qa: ['slack:T1/UQA1', 'slack:T1/UQA2'] } };

const gatedSpec = [
  'version: 1',
  'image: any',
  'stages:',
  '  test:',
  '    steps:',
  '      - name: unit',
  '        run: echo ok',
  '    checkpoint:',
  '      instructions: Try checkout on staging.',
  '      checklist: [Login works, Payment sheet opens]',
  '      timeout: 4h',
  '      approvers: qa',
  '  deploy:',
  '    needs: [test]',
  '    steps:',
  '      - name: go',
  '        run: echo deployed',
  '',
].join('\n');

/**
 * Requester refused, outsider refused, approver accepted once (double click = one decision),
 * pipeline continues. (A stage that deploys would ask Approve / Reject; `deploy:` is refused
 * until deploys are real, so that wording is covered by render-build.test.ts.)
 */
export async function scenarioCheckpoint(bed: SlackBed, channel: string): Promise<void> {
  const words = { title: 'Manual check needed', buttons: ['Pass', 'Fail'], done: 'Passed' };
  const { fake, h } = bed;
  const repo = await makeRepo(h.dataDir, `gated-${channel}`, { 'bosun.yml': gatedSpec });
  h.server.core.config.repos[`gated-${channel}`] = { url: repo.url, defaultBranch: 'master', secrets: [] };
  await bed.command(`build gated-${channel}#master`, 'UDEV', { channel });

  const cp = await fake.waitFor(() => fake.channel(channel)[0]?.replies.find((r) => r.text.includes(words.title)), 60_000, 'checkpoint message');
  const id = buildIdOf(fake.channel(channel)[0]!.root.text);
  assert.match(cp.text, /Try checkout on staging\./);
  assert.match(cp.text, /• Login works/);
  assert.match(cp.text, /Deadline: /);
  const buttons = cp.blocks?.find((b) => b.type === 'actions')?.elements.map((e: { text: { text: string } }) => e.text.text);
  assert.deepEqual(buttons, words.buttons);
  const msg = { channel, ts: cp.ts, thread_ts: cp.thread_ts! };
  await fake.waitFor(
    () => fake.callsOf('chat.postMessage').find((c) => c.args.channel === 'DUDEV' && new RegExp(`#${id} .* is waiting at stage test for qa`).test(c.args.text)),
    60_000,
    'DM to the requester',
  );
  const value = `${id}|test`;

  const ephemeralsFor = (user: string) => fake.ephemerals.filter((e) => e.user === user).map((e) => e.text);
  const self = await bed.click(actionIds.pass, value, 'UDEV', msg);
  assert.ok(self.ms < 3000, `click acked within Slack's 3 s: ${self.ms} ms`);
  await fake.waitFor(() => ephemeralsFor('UDEV').some((t) => /no self-approval/.test(t)), 60_000, 'self-approval refusal');
  await bed.click(actionIds.pass, value, 'UX', msg);
  await fake.waitFor(() => ephemeralsFor('UX').some((t) => /not in the approver group "qa"/.test(t)), 60_000, 'outsider refusal');
  assert.equal((await h.server.core.store.get(id))!.status, 'waiting', 'refused clicks change nothing');

  await Promise.all([bed.click(actionIds.pass, value, 'UQA1', msg), bed.click(actionIds.pass, value, 'UQA1', msg)]);
  const done = await h.waitDone(id);
  assert.equal(done.status, 'success');
  assert.equal(done.stages[1]!.status, 'success', 'the pipeline continues');
  const decided = await fake.waitFor(
    () => {
      const m = fake.messages.get(cp.ts)!;
      return m.text.includes(`${words.done} by <@UQA1> <!date^`) ? m : null;
    },
    60_000,
    'decided message',
  );
  assert.ok(!decided.blocks?.some((b) => b.type === 'actions'), 'buttons removed after the decision');
  assert.match(FakeSlack.plain(decided), /stage \*test\*/);
  const audit = await h.server.core.audit.list(1000);
  const passes = audit.filter((a) => a.action === 'checkpoint.pass' && a.buildId === id && a.outcome === 'ok');
  assert.equal(passes.length, 1, 'a double click is one decision');
}

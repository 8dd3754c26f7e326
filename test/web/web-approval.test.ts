import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { FakeSlack } from '../fakes/fake-slack.js';
import { slashCommand } from '../fakes/fake-slack-requests.js';
import { buildIdOf } from '../chat/slack/slack-test-bed.js';
import { allowSlackTeam, eventually, openBrowser, signedIn } from './console-bed.js';

// Two of the qa group must pass the `test` checkpoint; the requester never may (R9).
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

let h: Harness;
let fake: FakeSlack;
let b: Awaited<ReturnType<typeof openBrowser>>;

before(async () => {
  fake = await FakeSlack.start();
  h = await startHarness({
    groups: { qa: ['slack:T1/UQA1', 'slack:T1/UQA2'] },
    approvals: { qa: 2 },
    slack: { mode: 'socket', botToken: 'xoxb-test', appToken: 'xapp-test', apiUrl: fake.apiUrl, logEditIntervalMs: 200, logEditsPerMinute: 600 },
    ...allowSlackTeam,
  } as never);
  await fake.connected();
  b = await openBrowser();
});
after(async () => {
  await b?.close();
  await h?.stop();
  await fake?.stop();
});

test('approvers approve from the web with the chat rules (no self-approval, 2 of the group), and the Slack thread shows it', async () => {
  const repo = await makeRepo(h.dataDir, 'gated', { 'bosun.yml': gatedSpec });
  h.server.core.config.repos.gated = { url: repo.url, defaultBranch: 'master', secrets: [] };
  await fake.sendEnvelope('slash_commands', slashCommand('build gated#master', 'UDEV', { channel: 'CWEB' }));
  const cp = await fake.waitFor(
    () => fake.channel('CWEB')[0]?.replies.find((r) => r.text.includes('Manual check needed')),
    60_000,
    'the checkpoint message in the thread',
  );
  const id = buildIdOf(fake.channel('CWEB')[0]!.root.text);

  // Signed out: the approvals are not shown at all (reads need a session).
  const anon = await fetch(`${h.url}/approvals`, { redirect: 'manual' });
  assert.ok([302, 303, 401].includes(anon.status), `signed out gets ${anon.status}`);
  assert.doesNotMatch(await anon.text(), /Try checkout/);

  // The requester is refused, as in chat.
  const dev = await b.page({ session: signedIn(h.dataDir, 'slack:T1/UDEV'), url: h.url });
  await dev.goto(`${h.url}/approvals`);
  await dev.locator(`tr[data-build="${id}"] button.approve`).click();
  await dev.locator('.notice.error', { hasText: 'cannot approve it (no self-approval)' }).waitFor();

  // A forged form post (no CSRF token) is refused before anything runs; so is a cross-site one with the token.
  const qa1Session = signedIn(h.dataDir, 'slack:T1/UQA1');
  const post = (body: string, origin?: string) =>
    fetch(`${h.url}/builds/${id}/stages/test/approve`, {
      method: 'POST',
      redirect: 'manual',
      body,
      headers: { cookie: `${qa1Session.cookie}=${qa1Session.value}`, 'content-type': 'application/x-www-form-urlencoded', ...(origin ? { origin } : {}) },
    });
  assert.equal((await post('decision=approve')).status, 403);
  assert.equal(
    (await post(`decision=approve&_csrf=${encodeURIComponent(qa1Session.csrf)}`, 'http://evil.example')).status,
    403,
    'the token alone does not make a cross-site post acceptable',
  );
  assert.equal((await h.server.core.store.get(id))!.stages[0]!.checkpointState!.approvals.length, 0, 'refused posts change nothing');

  // First approver: recorded, one more needed (N of M).
  const qa1 = await b.page({ session: signedIn(h.dataDir, 'slack:T1/UQA1'), url: h.url });
  await qa1.goto(`${h.url}/builds/${id}`);
  await qa1.locator('[data-waiting="test"] button.approve').click();
  await qa1.locator('.notice', { hasText: `Approval recorded for #${id} test; 1 more needed.` }).waitFor();
  await qa1.locator('.stage[data-stage="test"] .approvals', { hasText: 'approved by UQA1' }).waitFor();

  // Second approver, from the approvals page: the checkpoint passes and the pipeline goes on.
  const qa2 = await b.page({ session: signedIn(h.dataDir, 'slack:T1/UQA2'), url: h.url });
  await qa2.goto(`${h.url}/approvals`);
  await qa2.locator(`tr[data-build="${id}"] button.approve`).click();
  await qa2.locator('.notice', { hasText: `Approved test of #${id}.` }).waitFor();
  const done = await h.waitDone(id, 120_000);
  assert.equal(done.status, 'success');
  assert.deepEqual(
    done.stages[0]!.checkpointState!.approvals.map((a) => [a.actor.id, a.source]),
    [
      ['slack:T1/UQA1', 'web'],
      ['slack:T1/UQA2', 'web'],
    ],
  );

  // The Slack thread shows the decision.
  await fake.waitFor(
    () => {
      const m = fake.messages.get(cp.ts)!;
      return m.text.includes('Passed by <@UQA2>') ? m : null;
    },
    30_000,
    'the checkpoint message to show the web approval',
  );
  const audit = await h.server.core.audit.list(1000);
  assert.deepEqual(
    audit.filter((a) => a.buildId === id && a.action === 'checkpoint.pass').map((a) => [a.actorId, a.source, a.outcome]),
    [
      ['slack:T1/UDEV', 'web', 'denied'],
      ['slack:T1/UQA1', 'web', 'ok'],
      ['slack:T1/UQA2', 'web', 'ok'],
    ],
  );

  // The build page then shows who approved what.
  await qa2.goto(`${h.url}/builds/${id}`);
  await eventually(
    async () => (await qa2.locator('.stage[data-stage="test"] .approvals li').allTextContents()).join(' | ').match(/approved by UQA1.*\| approved by UQA2/),
    60_000,
    'both approvals on the stage',
  );
});

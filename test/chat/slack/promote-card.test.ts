import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSlackBed, type SlackBed } from './slack-test-bed.js';
import { FakeSlack } from '../../fakes/fake-slack.js';
import { FakeGithub } from '../../fakes/fake-github.js';
import { pushPayload } from '../../fakes/fake-github-payloads.js';
import { makeRepo } from '../../support/git-repo.js';
import { actionIds } from '../../../src/chat/slack/render-build.js';
import { webhookPath } from '../../../src/github/webhook-route.js';
import { git } from '../../../src/git/git.js';

const secret = 'webhook-secret-0123456789';
const spec = [
  'version: 1',
  'image: any',
  'stages:',
  '  test:',
  '    steps:',
  '      - name: unit',
  '        run: echo unit ok',
  '  e2e:',
  '    on: { branches: [master] }',
  '    needs: [test]',
  '    steps:',
  '      - name: smoke',
  '        run: echo e2e ok',
  '',
].join('\n');

let bed: SlackBed;
let gh: FakeGithub;
before(async () => {
  gh = await new FakeGithub().start();
  bed = await startSlackBed(
    'socket',
    {
      groups: { release: ['slack:T1/UREL1', 'slack:T1/UREL2'] },
      github: { webhookSecrets: [secret], token: 'ghs_faketoken0123456789', apiUrl: gh.url, productionApprovers: 'release' },
    },
    { approverChannels: { release: { channel: 'CREL' } } },
  );
  gh.webhook = { url: `${bed.h.url}${webhookPath}`, secret };
});
after(async () => {
  await bed?.stop();
  await gh?.stop();
});

/** Polls an async condition until it gives a value (bounded). */
async function poll<T>(get: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const hasButtons = (m: { blocks?: any[] }) => (m.blocks ?? []).some((b) => b.type === 'actions');
const sections = (m: { blocks?: any[] }) =>
  (m.blocks ?? [])
    .filter((b) => b.type === 'section')
    .map((b) => b.text.text as string)
    .join('\n');

test("/ci promote: the card goes to the approvers' channel mentioning them, with the commits since production, the gates and a confirm dialog; requester, outsider and double clicks as for any checkpoint; every copy updated after the decision", async () => {
  const { fake, h } = bed;
  const api = await makeRepo(h.dataDir, 'promo-api', { 'bosun.yml': spec });
  await git(['branch', 'production'], { cwd: api.dir }); // what production runs: the initial commit
  await api.commit({ 'a.txt': '1' }, 'Fix <!channel> login');
  const head = await api.commit({ 'b.txt': '2' }, 'Tidy up');
  h.server.core.config.repos['acme/api'] = { url: api.url, defaultBranch: 'master', secrets: [] };
  gh.addRepo('acme/api', api.dir);

  const res = await gh.deliver('push', pushPayload({ repo: 'acme/api', ref: 'refs/heads/master', after: head, sender: { id: 101, login: 'dev' } }));
  assert.equal(res.status, 202);
  const pushBuild = await poll(
    async () => (await h.server.core.store.list({ repo: 'acme/api', limit: 10 })).find((b) => b.sha === head && b.trigger.event === 'push'),
    60_000,
    'the push build',
  );
  assert.equal((await h.waitDone(pushBuild.id)).status, 'success');

  await bed.command('promote acme/api', 'UDEV', { channel: 'CDEV' });
  const card = await fake.waitFor(() => fake.channel('CREL')[0]?.root, 60_000, "the card in the approvers' channel");
  const shown = sections(card);
  process.stderr.write(`promotion card:\n${shown}\n`);
  assert.match(shown, /^<@UREL1> <@UREL2>\n/, 'the approvers are mentioned');
  assert.match(shown, /Approval needed\* for stage \*promote\*/);
  assert.match(shown, /\*Environment\* production/);
  assert.match(shown, /\*2 commits\* since what runs in production \(`[0-9a-f]{7}`\) by /);
  assert.match(shown, /• `[0-9a-f]{7}` Tidy up — .*\n• `[0-9a-f]{7}` Fix &lt;!channel&gt; login/, 'commit titles, escaped');
  assert.doesNotMatch(shown, /<!channel>/);
  assert.match(shown, new RegExp(`\\*Gates\\* \\(build #${pushBuild.id}\\): :white_check_mark: test success( \\d+(ms|s))? · :white_check_mark: e2e success`));
  const buttons = card.blocks!.find((b) => b.type === 'actions')!.elements as Record<string, any>[];
  assert.deepEqual(
    buttons.map((b) => b.text.text),
    ['Approve', 'Reject'],
  );
  for (const b of buttons) {
    assert.ok(b.confirm, `${b.text.text} asks for confirmation`);
    assert.match(b.confirm.text.text, new RegExp(`^${b.text.text} acme/api to production \\(stage promote of build #\\d+\\)\\?$`));
  }

  const value = buttons[0]!.value as string;
  const id = value.split('|')[0]!;
  // fake.channel() is a snapshot: look the thread up again on every poll (the thread's copy is posted after the approvers').
  const inThread = await fake.waitFor(
    () =>
      fake
        .channel('CDEV')
        .find((t) => t.root.text.includes(`Build #${id} `))
        ?.replies.find((r) => /Approval needed/.test(r.text)),
    20_000,
    'the card in the promotion build thread',
  );
  assert.match(inThread.text, /The approvers were asked in <#CREL>\./);

  const ephemeralsFor = (user: string) => fake.ephemerals.filter((e) => e.user === user).map((e) => e.text);
  const msg = { channel: 'CREL', ts: card.ts };
  await bed.click(actionIds.pass, value, 'UDEV', msg);
  await fake.waitFor(() => ephemeralsFor('UDEV').some((t) => /no self-approval/.test(t)), 15_000, 'self-approval refusal');
  await bed.click(actionIds.pass, value, 'UOUT', msg);
  await fake.waitFor(() => ephemeralsFor('UOUT').some((t) => /not in the approver group "release"/.test(t)), 15_000, 'outsider refusal');
  assert.equal((await h.server.core.store.get(id))!.status, 'waiting', 'refused clicks change nothing');

  await Promise.all([bed.click(actionIds.pass, value, 'UREL1', msg), bed.click(actionIds.pass, value, 'UREL1', msg)]);
  assert.equal((await h.waitDone(id)).status, 'success');
  for (const ts of [card.ts, inThread.ts]) {
    const m = await fake.waitFor(
      () => {
        const now = fake.messages.get(ts)!;
        return /Approved by <@UREL1> <!date\^/.test(now.text) ? now : null;
      },
      20_000,
      'decided card',
    );
    assert.ok(!hasButtons(m), 'no buttons after the decision');
    assert.match(FakeSlack.plain(m), /stage \*promote\*/);
  }
  const passes = (await h.server.core.audit.list(1000)).filter((a) => a.action === 'checkpoint.pass' && a.buildId === id && a.outcome === 'ok');
  assert.equal(passes.length, 1, 'a double click is one decision');
  await poll(async () => (await git(['rev-parse', 'production'], { cwd: api.dir })).trim() === head || undefined, 30_000, 'production fast-forwarded');
});

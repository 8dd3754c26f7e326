import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSlackBed, buildIdOf, type SlackBed } from './slack-test-bed.js';
import { FakeSlack } from '../../fakes/fake-slack.js';
import { makeRepo } from '../../support/git-repo.js';
import { actionIds, approverMention } from '../../../src/chat/slack/render-build.js';
import { SlackConfig } from '../../../src/chat/slack/slack-config.js';
import { git } from '../../../src/git/git.js';

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
  '      instructions: Ship to staging?',
  '      timeout: 4h',
  '      approvers: leads',
  '  after:',
  '    needs: [test]',
  '    steps:',
  '      - name: go',
  '        run: echo done',
  '',
].join('\n');

let bed: SlackBed;
before(async () => {
  bed = await startSlackBed(
    'socket',
    { groups: { leads: ['slack:T1/ULEAD1', 'slack:T1/ULEAD2', 'cli:carol'] } },
    {
      approverChannels: { leads: { channel: 'CAPPROVE' } },
    },
  );
  const repo = await makeRepo(bed.h.dataDir, 'gated', { 'bosun.yml': gatedSpec });
  await repo.commit({ 'NOTES.md': 'gate\n' }, 'Add the <!channel> gate');
  bed.h.server.core.config.repos.gated = { url: repo.url, defaultBranch: 'master', secrets: [] };
});
after(async () => {
  await bed?.stop();
});

const hasButtons = (m: { blocks?: any[] }) => (m.blocks ?? []).some((b) => b.type === 'actions');

test("the approval card goes to the approvers' channel mentioning them, linked from the thread; after the decision every copy says who and when, and the requester is told", async () => {
  const { fake, h } = bed;
  await bed.command('build gated#master', 'UASK', { channel: 'CDEV' });
  const card = await fake.waitFor(() => fake.channel('CAPPROVE')[0]?.root, 60_000, "card in the approvers' channel");
  const id = buildIdOf(fake.channel('CDEV')[0]!.root.text);
  const shown = FakeSlack.plain(card);
  process.stderr.write(`approver card: ${shown}\n`);
  assert.match(shown, /^<@ULEAD1> <@ULEAD2>\n/, "the group's Slack members are mentioned");
  assert.match(shown, /Approval needed\* for stage \*test\*/);
  assert.match(
    shown,
    /\*Repository\* gated#master · \*Commit\* `[0-9a-f]{7}` Add the &lt;!channel&gt; gate · \*Asked by\* <@UASK>/,
    "the commit's title, escaped",
  );
  assert.match(shown, /Deadline: <!date\^\d+\^\{date_short_pretty\} \{time\}\|\d+ \w{3} \d\d:\d\d UTC>/);
  assert.ok(hasButtons(card));
  const inThread = await fake.waitFor(() => fake.channel('CDEV')[0]!.replies.find((r) => /Approval needed/.test(r.text)), 60_000, 'card in the thread');
  assert.match(inThread.text, /The approvers were asked in <#CAPPROVE>\./);

  const value = `${id}|test`;
  await bed.click(actionIds.pass, value, 'ULEAD2', { channel: 'CAPPROVE', ts: card.ts });
  const done = await h.waitDone(id);
  assert.equal(done.status, 'success');
  for (const ts of [card.ts, inThread.ts]) {
    const m = await fake.waitFor(
      () => {
        const now = fake.messages.get(ts)!;
        return /Approved by <@ULEAD2> <!date\^/.test(now.text) ? now : null;
      },
      60_000,
      'decided card',
    );
    assert.ok(!hasButtons(m), 'no buttons after the decision');
  }
  const dm = await fake.waitFor(
    () => [...fake.messages.values()].find((m) => m.channel === 'DUASK' && /Approved by <@ULEAD2>/.test(m.text)),
    60_000,
    'requester told',
  );
  assert.match(dm.text, /your build/);
});

test('a configured Slack user group is mentioned instead of the members; an approver channel must name a Slack channel', () => {
  assert.equal(approverMention(['slack:T1/U1'], 'S0LEADS'), '<!subteam^S0LEADS>');
  assert.equal(approverMention(['slack:T1/U1', 'cli:bob', 'zulip:z.example/4']), '<@U1>');
  const base = { mode: 'socket', botToken: 'x', appToken: 'y' };
  assert.throws(() => SlackConfig.parse({ ...base, approverChannels: { leads: { channel: '#general' } } }), /Slack channel id/);
});

test("the next build's card lists the commits since the previous successful build of the branch (escaped) and its gate results, with no confirm dialog outside production", async () => {
  const { fake, h } = bed;
  const repo = h.server.core.config.repos.gated!;
  const dir = new URL(repo.url).pathname;
  await git(['commit', '-q', '--allow-empty', '--author=Mallory <m@example.invalid>', '-m', 'Fix <!channel> login <https://evil.example|x>'], { cwd: dir });
  await git(['commit', '-q', '--allow-empty', '--author=Alice <a@example.invalid>', '-m', 'Tidy up'], { cwd: dir });
  const before = fake.channel('CAPPROVE').length;
  await bed.command('build gated#master', 'UASK', { channel: 'CDEV' });
  const card = await fake.waitFor(() => fake.channel('CAPPROVE')[before]?.root, 60_000, "second card in the approvers' channel");
  const shown = (card.blocks ?? [])
    .filter((b) => b.type === 'section')
    .map((b) => b.text.text)
    .join('\n');
  process.stderr.write(`second card:\n${shown}\n`);
  const first = (await h.server.core.store.list({ repo: 'gated', limit: 10 })).find((b) => b.status === 'success')!;
  assert.match(shown, new RegExp(`\\*2 commits\\* since build #${first.id}, the previous successful build of master by Alice, Mallory\n`));
  assert.match(shown, /• `[0-9a-f]{7}` Tidy up — Alice\n• `[0-9a-f]{7}` Fix &lt;!channel&gt; login &lt;https:\/\/evil\.example\|x&gt; — Mallory/);
  assert.doesNotMatch(shown, /<!channel>|<https:\/\/evil/);
  assert.match(shown, /\*Gates\* \(build #\d+\): :white_check_mark: test steps passed( \d+(ms|s))?$/m);
  const buttons = card.blocks!.find((b) => b.type === 'actions')!.elements as Record<string, unknown>[];
  assert.ok(
    buttons.every((b) => !('confirm' in b)),
    'no confirm dialog for a checkpoint outside a production-like environment',
  );
  const id = buildIdOf(fake.channel('CDEV').at(-1)!.root.text);
  await bed.click(actionIds.fail, `${id}|test`, 'ULEAD1', { channel: 'CAPPROVE', ts: card.ts });
  assert.equal((await h.waitDone(id)).status, 'failed');
});

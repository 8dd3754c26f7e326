import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeRepo } from '../../support/git-repo.js';
import { git } from '../../../src/git/git.js';
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
  '      instructions: Ship it?',
  '      timeout: 4h',
  '      approvers: qa',
  '',
].join('\n');

let bed: ZulipBed;
before(async () => {
  bed = await startZulipBed({ http: { host: '127.0.0.1', port: 0, publicUrl: 'http://ci.test' } });
  bed.h.server.core.config.groups.qa = [bed.fake.actorId(people.qa1)];
});
after(async () => {
  await bed?.stop();
});

/** `build gated#master` as dev; its card once posted. */
async function buildAndCard(): Promise<{ id: string; content: string; cardId: number }> {
  const { fake } = bed;
  const before = new Set(fake.topics('ci'));
  fake.say(people.dev, { stream: 'ci', topic: 'facts' }, '@**Bosun** build gated#master');
  const topic = await fake.waitFor(() => fake.topics('ci').find((t) => !before.has(t) && /^build #\d+ gated#master$/.test(t)), 30_000, 'the topic');
  const id = buildIdOf(fake.topic('ci', topic)[0]!.content);
  const card = await fake.waitFor(() => fake.topic('ci', topic).find((m) => /Approval needed/.test(m.content)), 30_000, 'the card');
  return { id, content: card.content, cardId: card.id };
}

test("Zulip's approval card shows the approval facts: repository, commit, requester, the commits since the previous successful build (escaped) and the gates", async () => {
  const { fake, h } = bed;
  const repo = await makeRepo(h.dataDir, 'gated', { 'bosun.yml': gatedSpec });
  h.server.core.config.repos.gated = { url: repo.url, defaultBranch: 'master', secrets: [] };

  const first = await buildAndCard();
  assert.match(first.content, /\*\*Approval needed\*\* for stage \*\*test\*\* of \[build #\d+\]\(http:\/\/ci\.test\/builds\/\d+\)/);
  assert.match(first.content, /\*\*Repository\*\* gated#master · \*\*Commit\*\* `[0-9a-f]{7}` · \*\*Asked by\*\* @_\*\*Dana Dev\|7\*\*_/);
  assert.match(first.content, /\*\*Gates \(build #\d+\)\*\*: :check: test steps passed/);
  assert.match(first.content, /Deadline: <time:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ>/, 'a Zulip global time: each reader sees their own zone');
  fake.react(people.qa1, first.cardId, 'check');
  assert.equal((await h.waitDone(first.id)).status, 'success');

  await git(['commit', '-q', '--allow-empty', '--author=Mallory <m@example.invalid>', '-m', 'Fix @**all** login [x](http://evil) ```spoiler'], {
    cwd: repo.dir,
  });
  await git(['commit', '-q', '--allow-empty', '--author=Alice <a@example.invalid>', '-m', 'Tidy up'], { cwd: repo.dir });
  const second = await buildAndCard();
  process.stderr.write(`Zulip card:\n${second.content}\n`);
  assert.match(second.content, new RegExp(`\\*\\*2 commits since build #${first.id}, the previous successful build of master by Alice, Mallory\\*\\*`));
  assert.match(
    second.content,
    /- `[0-9a-f]{7}` Tidy up — Alice\n- `[0-9a-f]{7}` Fix @\u200b\*\*all\*\* login \[x\]\u200b\(http:\/\/evil\) `\u200b`\u200b`spoiler — Mallory/,
  );
  assert.doesNotMatch(second.content, /@\*\*all\*\*|\]\(http:\/\/evil|```/, 'commit titles cannot ping, link or fence (R12)');
  fake.react(people.qa1, second.cardId, 'cross_mark');
  assert.equal((await h.waitDone(second.id)).status, 'failed');
});

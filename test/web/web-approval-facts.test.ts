import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { git } from '../../src/git/git.js';
import { allowSlackTeam, signedIn } from './console-bed.js';

const plainSpec = ['version: 1', 'image: any', 'stages:', '  test:', '    steps:', '      - name: unit', '        run: echo ok', ''].join('\n');
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

let h: Harness;
before(async () => {
  h = await startHarness({ groups: { qa: ['slack:T1/UQA1'] }, ...allowSlackTeam } as never);
});
after(async () => {
  await h?.stop();
});

async function build(repo: string): Promise<string> {
  const res = await h.api('POST', '/api/builds', { repo, ref: 'master' });
  assert.equal(res.status, 201, JSON.stringify(res.json));
  return (res.json as { build: { id: string } }).build.id;
}

test('the approvals page shows the approval facts — commits since the previous successful build, escaped, and the gates', async () => {
  const repo = await makeRepo(h.dataDir, 'gated', { 'bosun.yml': plainSpec });
  h.server.core.config.repos.gated = { url: repo.url, defaultBranch: 'master', secrets: [] };
  const first = await build('gated');
  assert.equal((await h.waitDone(first)).status, 'success');

  await repo.commit({ 'bosun.yml': gatedSpec }, 'Ask before shipping');
  await git(['commit', '-q', '--allow-empty', '--author=Mallory <m@example.invalid>', '-m', 'Fix <script>alert(1)</script> & "quotes"'], { cwd: repo.dir });
  const second = await build('gated');
  await h.waitFor(second, (b) => b.status === 'waiting', 60_000);

  const qa = signedIn(h.dataDir, 'slack:T1/UQA1');
  const res = await fetch(`${h.url}/approvals`, { headers: { cookie: `${qa.cookie}=${qa.value}` } });
  assert.equal(res.status, 200);
  const page = await res.text();
  const row = page.slice(page.indexOf(`data-build="${second}"`));
  assert.ok(row.length < page.length, 'the waiting build has its row');
  assert.match(row, new RegExp(`<div class="range">2 commits since build #${first}, the previous successful build of master by Mallory, `));
  assert.match(row, /<li><code>[0-9a-f]{7}<\/code> Fix &lt;script&gt;alert\(1\)&lt;\/script&gt; &amp; &quot;quotes&quot; — Mallory<\/li>/);
  assert.match(row, /<li><code>[0-9a-f]{7}<\/code> Ask before shipping — /);
  assert.match(row, new RegExp(`<div class="gates">Gates \\(build #${second}\\): <span class="gate success">✅ test steps passed`));
  assert.doesNotMatch(page, /<script>alert/, 'commit titles are escaped');
});

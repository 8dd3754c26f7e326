import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeRepo } from '../support/git-repo.js';
import { git } from '../../src/git/git.js';
import type { Build } from '../../src/domain/build.js';
import { checkRunPayload, issueCommentPayload, pullRequestPayload } from '../fakes/fake-github-payloads.js';
import { missingApprovals } from '../../src/github/fast-forward-merge.js';
import { startGithubHarness, eventually, type GithubHarness } from './github-harness.js';

const spec = (run: string) => ['version: 1', 'image: any', 'stages:', '  test:', '    steps:', '      - name: unit', `        run: ${run}`, ''].join('\n');
const dev = { id: 101, login: 'dev' };
const reviewer = { id: 202, login: 'reviewer' };
let g: GithubHarness;
let repo: Awaited<ReturnType<typeof makeRepo>>;

before(async () => {
  g = await startGithubHarness({}, { requiredApprovals: 1 });
  repo = await makeRepo(g.h.dataDir, 'api', { 'bosun.yml': spec('echo ok') });
  g.h.server.core.config.repos['acme/api'] = { url: repo.url, defaultBranch: 'master', secrets: [] };
  g.gh.addRepo('acme/api', repo.dir);
});
after(async () => {
  await g?.stop();
});

const builds = async (pred: (b: Build) => boolean) => (await g.h.server.core.store.list({ repo: 'acme/api', limit: 100 })).filter(pred);

async function openPull(number: number, branch: string, run: string): Promise<string> {
  await git(['checkout', '-q', '-B', branch, 'master'], { cwd: repo.dir });
  const sha = await repo.commit({ 'bosun.yml': spec(run), [`${branch}.txt`]: branch }, branch);
  await git(['checkout', '-q', '--detach'], { cwd: repo.dir });
  g.gh.addPull('acme/api', { number, headRef: branch, baseRef: 'master', user: dev });
  await g.gh.deliver('pull_request', pullRequestPayload({ action: 'opened', repo: 'acme/api', number, headSha: sha, headRef: branch, user: dev }));
  const [b] = await eventually(() => builds((x) => x.sha === sha), (x) => x.length === 1);
  await g.h.waitDone(b!.id);
  return sha;
}

async function mergeReply(number: number): Promise<string> {
  const before = g.gh.comments.length;
  await g.gh.deliver('issue_comment', issueCommentPayload({ repo: 'acme/api', number, body: `/ci merge acme/api#${number}`, user: dev }));
  return (await eventually(() => g.gh.comments, (c) => c.length > before))[before]!.body;
}

test('merge says "check `test` failed" when the head is red, and never moves master', async () => {
  const masterBefore = await g.gh.rev('acme/api', 'refs/heads/master');
  await openPull(11, 'red', 'exit 3');
  await g.gh.addReview('acme/api', 11, reviewer, 'APPROVED');

  assert.equal(await mergeReply(11), '@dev Cannot merge acme/api#11: check `test` failed');
  assert.equal(await g.gh.rev('acme/api', 'refs/heads/master'), masterBefore);
});

test('merge says "needs 1 more approving review"; the author\'s own approval does not count', async () => {
  await openPull(12, 'green', 'echo ok');
  await g.gh.addReview('acme/api', 12, dev, 'APPROVED');

  assert.equal(await mergeReply(12), '@dev Cannot merge acme/api#12: needs 1 more approving review');
});

test('chat and the CLI reach the same merge through the shared commands', async () => {
  const res = await g.h.api('POST', '/api/commands', { text: 'merge acme/api#12' });

  assert.equal(res.status, 200);
  assert.equal(res.json.text, 'Cannot merge acme/api#12: needs 1 more approving review');
});

test('a reporter that cannot reach GitHub never fails the build', async () => {
  g.gh.failNext(/statuses/, 500, {}, 1000);
  const sha = await openPull(13, 'unreported', 'echo ok');
  const [b] = await builds((x) => x.sha === sha);
  assert.equal(b!.status, 'success');
  g.gh.clearFailures();
});

test('a re-requested check run retries the build of that commit', async () => {
  const sha = await openPull(14, 'flaky', 'echo ok');
  await g.gh.deliver('check_run', checkRunPayload({ repo: 'acme/api', headSha: sha, sender: dev }));
  const again = await eventually(() => builds((x) => x.sha === sha), (x) => x.length === 2);
  assert.ok(again.some((b) => b.retryOf));
});

test('review policy: latest review per person counts; changes requested blocks', () => {
  assert.deepEqual(missingApprovals([{ userId: 2, login: 'r', state: 'APPROVED' }], 1, 1), { count: 0 });
  assert.deepEqual(missingApprovals([{ userId: 2, login: 'r', state: 'APPROVED' }, { userId: 2, login: 'r', state: 'APPROVED' }], 1, 2), { count: 1 });
  assert.deepEqual(missingApprovals([{ userId: 2, login: 'r', state: 'APPROVED' }, { userId: 2, login: 'r', state: 'CHANGES_REQUESTED' }], 1, 1), { count: 1, changesRequestedBy: 'r' });
  assert.deepEqual(missingApprovals([{ userId: 2, login: 'r', state: 'CHANGES_REQUESTED' }, { userId: 2, login: 'r', state: 'APPROVED' }], 1, 1), { count: 0 });
});

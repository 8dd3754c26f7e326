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
  const [b] = await eventually(
    () => builds((x) => x.sha === sha),
    (x) => x.length === 1,
  );
  await g.h.waitDone(b!.id);
  return sha;
}

async function mergeReply(number: number): Promise<string> {
  const before = g.gh.comments.length;
  await g.gh.deliver('issue_comment', issueCommentPayload({ repo: 'acme/api', number, body: `/ci merge acme/api#${number}`, user: dev }));
  return (
    await eventually(
      () => g.gh.comments,
      (c) => c.length > before,
    )
  )[before]!.body;
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

  assert.match(await mergeReply(12), /^@dev Cannot merge acme\/api#12: needs 1 more approving review on [0-9a-f]{7,}$/);
});

test('chat and the CLI reach the same merge through the shared commands', async () => {
  const res = await g.h.api('POST', '/api/commands', { text: 'merge acme/api#12' });

  assert.equal(res.status, 200);
  assert.match(res.json.text, /^Cannot merge acme\/api#12: needs 1 more approving review on [0-9a-f]{7,}$/);
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
  const again = await eventually(
    () => builds((x) => x.sha === sha),
    (x) => x.length === 2,
  );
  assert.ok(again.some((b) => b.retryOf));
});

test('review policy: latest review per person counts; changes requested blocks', () => {
  assert.deepEqual(missingApprovals([{ userId: 2, login: 'r', state: 'APPROVED' }], 1, 1), { count: 0 });
  assert.deepEqual(
    missingApprovals(
      [
        { userId: 2, login: 'r', state: 'APPROVED' },
        { userId: 2, login: 'r', state: 'APPROVED' },
      ],
      1,
      2,
    ),
    { count: 1 },
  );
  assert.deepEqual(
    missingApprovals(
      [
        { userId: 2, login: 'r', state: 'APPROVED' },
        { userId: 2, login: 'r', state: 'CHANGES_REQUESTED' },
      ],
      1,
      1,
    ),
    { count: 1, changesRequestedBy: 'r' },
  );
  assert.deepEqual(
    missingApprovals(
      [
        { userId: 2, login: 'r', state: 'CHANGES_REQUESTED' },
        { userId: 2, login: 'r', state: 'APPROVED' },
      ],
      1,
      1,
    ),
    { count: 0 },
  );
});

test('an approval on an older head does not count after a new push', async () => {
  const first = await openPull(15, 'pushed-again', 'echo ok');
  await g.gh.addReview('acme/api', 15, reviewer, 'APPROVED');
  await git(['checkout', '-q', 'pushed-again'], { cwd: repo.dir });
  const second = await repo.commit({ 'more.txt': 'more' }, 'pushed-again');
  await git(['checkout', '-q', '--detach'], { cwd: repo.dir });
  assert.notEqual(first, second);
  await g.gh.deliver(
    'pull_request',
    pullRequestPayload({ action: 'synchronize', repo: 'acme/api', number: 15, headSha: second, headRef: 'pushed-again', user: dev }),
  );
  const [b] = await eventually(
    () => builds((x) => x.sha === second),
    (x) => x.length === 1,
  );
  await g.h.waitDone(b!.id);

  assert.match(await mergeReply(15), /needs 1 more approving review on [0-9a-f]{7,} \(1 approval is for an older commit\)$/);
});

test('two /ci merge for two green, approved PRs at the same moment: exactly one lands, the other is told to rebase', async () => {
  const a = await openPull(16, 'race-a', 'echo ok');
  const b = await openPull(17, 'race-b', 'echo ok');
  await g.gh.addReview('acme/api', 16, reviewer, 'APPROVED');
  await g.gh.addReview('acme/api', 17, reviewer, 'APPROVED');
  const masterBefore = await g.gh.rev('acme/api', 'refs/heads/master');
  // Both merges pass every check before either writes: the ref update alone decides.
  g.gh.gateRefUpdates(2);

  const replies = await Promise.all([16, 17].map((n) => g.h.api('POST', '/api/commands', { text: `merge acme/api#${n}` })));

  const texts = replies.map((r) => String(r.json.text));
  const landed = texts.filter((t) => t.startsWith('Fast-forwarded'));
  const refused = texts.filter((t) => t.startsWith('Cannot merge'));
  assert.equal(landed.length, 1, texts.join(' | '));
  assert.equal(refused.length, 1, texts.join(' | '));
  const master = await g.gh.rev('acme/api', 'refs/heads/master');
  assert.ok(master === a || master === b);
  assert.notEqual(master, masterBefore);
  assert.match(refused[0]!, new RegExp(`not fast-forwardable: rebase on master@${master.slice(0, 7)}`));
  const updates = g.gh.requests.filter((r) => r.method === 'PATCH' && decodeURIComponent(r.path) === '/repos/acme/api/git/refs/heads/master');
  assert.deepEqual(
    updates
      .slice(-2)
      .map((u) => u.status)
      .sort(),
    [200, 422],
  );
  assert.ok(updates.slice(-2).every((u) => u.body.force === false));
});

test('a fork pull request is built from pull/N/head but its branch filters see the head branch name', async () => {
  const filtered = [
    'version: 1',
    'image: any',
    'stages:',
    '  test:',
    '    on: { branches: [feature/*] }',
    '    steps:',
    '      - name: unit',
    '        run: echo ok',
    '',
  ].join('\n');
  await git(['checkout', '-q', '-B', 'feature/forked', 'master'], { cwd: repo.dir });
  const sha = await repo.commit({ 'bosun.yml': filtered }, 'feature/forked');
  await git(['update-ref', 'refs/pull/18/head', sha], { cwd: repo.dir });
  await git(['checkout', '-q', '--detach'], { cwd: repo.dir });
  g.gh.addPull('acme/api', { number: 18, headRef: 'feature/forked', baseRef: 'master', user: dev });
  await g.gh.deliver(
    'pull_request',
    pullRequestPayload({
      action: 'opened',
      repo: 'acme/api',
      number: 18,
      headSha: sha,
      headRef: 'feature/forked',
      user: dev,
      fork: true,
      association: 'OWNER',
    }),
  );
  await g.gh.deliver('issue_comment', issueCommentPayload({ repo: 'acme/api', number: 18, body: '/ci ok-to-test', user: reviewer }));
  const [built] = await eventually(
    () => builds((x) => x.sha === sha),
    (x) => x.length === 1,
  );
  const done = await g.h.waitDone(built!.id);

  assert.equal(done.ref, 'pull/18/head');
  assert.equal(done.trigger.headBranch, 'feature/forked');
  assert.deepEqual(
    done.stages.map((s) => [s.name, s.status]),
    [['test', 'success']],
  );
});

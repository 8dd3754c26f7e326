import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeRepo } from '../support/git-repo.js';
import { git } from '../../src/git/git.js';
import type { Build } from '../../src/domain/build.js';
import { issueCommentPayload, pullRequestPayload } from '../fakes/fake-github-payloads.js';
import { startGithubHarness, eventually, type GithubHarness } from './github-harness.js';

const apiSpec = [
  'version: 1',
  'image: any',
  'stages:',
  '  test:',
  '    steps:',
  '      - name: unit',
  '        run: echo unit ok',
  '  staging:',
  '    on: { branches: [master] }',
  '    needs: [test]',
  '    steps:',
  '      - name: deploy-staging',
  '        run: echo deployed to staging',
  '  e2e:',
  '    on: { branches: [master] }',
  '    needs: [staging]',
  '    steps:',
  '      - name: smoke',
  '        run: echo e2e against staging',
  '  deploy:',
  '    on: { branches: [production] }',
  '    needs: [test]',
  '    steps:',
  '      - name: go',
  '        run: echo deployed to production',
  '',
].join('\n');
const webSpec = [
  'version: 1',
  'image: any',
  'stages:',
  '  test:',
  '    steps:',
  '      - name: against-upstream',
  '        run: test -n "$BOSUN_UPSTREAM_SHA" && echo "web tested against $BOSUN_UPSTREAM_REPO@$BOSUN_UPSTREAM_SHA"',
  '',
].join('\n');

const dev = { id: 101, login: 'dev' };
const reviewer = { id: 202, login: 'rel-eng' };
let g: GithubHarness;

before(async () => {
  g = await startGithubHarness(
    { groups: { release: [`github:${reviewer.id}`] } },
    { requiredApprovals: 1, requiredStages: ['test'], downstream: { 'acme/api': ['acme/web'] }, productionApprovers: 'release' },
  );
});
after(async () => {
  await g?.stop();
});

async function builds(repo: string, pred: (b: Build) => boolean): Promise<Build[]> {
  return (await g.h.server.core.store.list({ repo, limit: 100 })).filter(pred);
}

async function comment(body: string, user = dev): Promise<string> {
  const before = g.gh.comments.length;
  const res = await g.gh.deliver('issue_comment', issueCommentPayload({ repo: 'acme/api', number: 1, body, user, association: 'MEMBER' }));
  assert.equal(res.status, 202);
  const all = await eventually(
    () => g.gh.comments,
    (c) => c.length > before,
  );
  return all[before]!.body;
}

test('a pull request goes from opened to production through ff-only merge, staging, e2e, downstream and an approved promotion', async () => {
  // Arrange: two real repositories; the PR branch is behind master.
  const api = await makeRepo(g.h.dataDir, 'api', { 'bosun.yml': apiSpec });
  const web = await makeRepo(g.h.dataDir, 'web', { 'bosun.yml': webSpec });
  const config = g.h.server.core.config;
  config.repos['acme/api'] = { url: api.url, defaultBranch: 'master', secrets: [] };
  config.repos['acme/web'] = { url: web.url, defaultBranch: 'master', secrets: [] };
  g.gh.addRepo('acme/api', api.dir);
  g.gh.addRepo('acme/web', web.dir);
  const head1 = await api.commit({ 'feature.txt': 'v1' }, 'feature', 'feature');
  await git(['checkout', '-q', 'master'], { cwd: api.dir });
  const master1 = await api.commit({ 'other.txt': 'someone else' }, 'meanwhile on master');
  g.gh.addPull('acme/api', { number: 1, headRef: 'feature', baseRef: 'master', user: dev });

  // PR opened → pending then success on its head.
  await g.gh.deliver(
    'pull_request',
    pullRequestPayload({ action: 'opened', repo: 'acme/api', number: 1, headSha: head1, headRef: 'feature', user: dev, association: 'MEMBER' }),
  );
  const [prBuild] = await eventually(
    () => builds('acme/api', (b) => b.sha === head1),
    (b) => b.length === 1,
  );
  assert.equal((await g.h.waitDone(prBuild!.id)).status, 'success');
  const prStatuses = await eventually(
    () => g.gh.statusesFor('acme/api', head1, 'bosun/test'),
    (s) => s.at(-1)?.state === 'success',
  );
  assert.equal(prStatuses[0]!.state, 'pending');
  assert.match(prStatuses.at(-1)!.target_url ?? '', new RegExp(`/builds/${prBuild!.id}$`));

  // /ci merge: reviewed, green, but behind master.
  await g.gh.addReview('acme/api', 1, reviewer, 'APPROVED');
  assert.equal(await comment('/ci merge acme/api#1'), `@dev Cannot merge acme/api#1: not fast-forwardable: rebase on master@${master1.slice(0, 7)}`);

  // Rebase and push: synchronize builds the new head.
  await git(['checkout', '-q', 'feature'], { cwd: api.dir });
  await git(['rebase', '-q', 'master'], { cwd: api.dir });
  const head2 = (await git(['rev-parse', 'HEAD'], { cwd: api.dir })).trim();
  await git(['checkout', '-q', '--detach'], { cwd: api.dir });
  await g.gh.deliver(
    'pull_request',
    pullRequestPayload({ action: 'synchronize', repo: 'acme/api', number: 1, headSha: head2, headRef: 'feature', user: dev, association: 'MEMBER' }),
  );
  await eventually(
    () => g.gh.latest('acme/api', head2)['bosun/test'],
    (s) => s === 'success',
  );

  // The approval was for the old head: it no longer counts until the reviewer approves the new one.
  assert.equal(
    await comment('/ci merge acme/api#1'),
    `@dev Cannot merge acme/api#1: needs 1 more approving review on ${head2.slice(0, 7)} (1 approval is for an older commit)`,
  );
  await g.gh.addReview('acme/api', 1, reviewer, 'APPROVED');

  // Now it fast-forwards master (never a merge commit).
  assert.equal(await comment('/ci merge acme/api#1'), `@dev Fast-forwarded acme/api master to ${head2.slice(0, 7)} (#1).`);
  assert.equal(await g.gh.rev('acme/api', 'refs/heads/master'), head2);
  assert.ok(g.gh.requests.some((r) => r.method === 'PATCH' && r.path.endsWith('/git/refs/heads%2Fmaster') && r.body.force === false && r.status === 200));
  assert.ok(!g.gh.requests.some((r) => r.path.endsWith('/merges') || r.path.endsWith('/merge')));

  // The push to master (delivered by the fake, as GitHub does) runs test, staging, e2e.
  const [masterBuild] = await eventually(
    () => builds('acme/api', (b) => b.sha === head2 && b.ref === 'master' && b.trigger.event === 'push'),
    (b) => b.length === 1,
  );
  const doneMaster = await g.h.waitDone(masterBuild!.id);
  assert.deepEqual(
    doneMaster.stages.map((s) => [s.name, s.status]),
    [
      ['test', 'success'],
      ['staging', 'success'],
      ['e2e', 'success'],
    ],
  );

  // The downstream repository runs against that commit and reports back onto it.
  const [webBuild] = await eventually(
    () => builds('acme/web', (b) => b.trigger.upstream?.sha === head2),
    (b) => b.length === 1,
  );
  assert.equal((await g.h.waitDone(webBuild!.id)).status, 'success');
  await eventually(
    () => g.gh.latest('acme/api', head2)['downstream/acme/web'],
    (s) => s === 'success',
  );
  const webLog = await g.h.server.core.logs.tail(webBuild!.id, 'test', 'against-upstream', 5);
  assert.ok(
    webLog.some((l) => l.text.includes(`acme/api@${head2}`)),
    JSON.stringify(webLog),
  );

  // /ci promote: a checkpoint for the release group; the requester cannot approve it.
  const promoted = await comment('/ci promote acme/api');
  const promotionId = /build #(\d+)/.exec(promoted)?.[1];
  assert.ok(promotionId, promoted);
  await g.h.waitFor(promotionId, (b) => b.status === 'waiting');
  assert.match(await comment(`/ci approve ${promotionId}`), /cannot approve it \(no self-approval\)/);
  assert.equal(await g.gh.rev('acme/api', 'refs/heads/production').catch(() => null), null);

  // Another approver's approval fast-forwards production, and the push to production runs deploy.
  assert.match(await comment(`/ci approve ${promotionId}`, reviewer), /^@rel-eng Passed the checkpoint of promote/);
  assert.equal((await g.h.waitDone(promotionId)).status, 'success');
  await eventually(
    () => g.gh.rev('acme/api', 'refs/heads/production').catch(() => null),
    (sha) => sha === head2,
  );
  const [prodBuild] = await eventually(
    () => builds('acme/api', (b) => b.ref === 'production'),
    (b) => b.length === 1,
  );
  const doneProd = await g.h.waitDone(prodBuild!.id);
  assert.equal(doneProd.sha, head2);
  assert.deepEqual(
    doneProd.stages.map((s) => [s.name, s.status]),
    [
      ['test', 'success'],
      ['deploy', 'success'],
    ],
  );
  const audit = await g.h.server.core.audit.list(1000);
  assert.ok(audit.some((a) => a.action === 'deploy.promote' && a.outcome === 'ok' && a.actorId === `github:${reviewer.id}` && a.sha === head2));
});

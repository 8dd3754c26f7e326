import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeRepo } from '../support/git-repo.js';
import type { Build } from '../../src/domain/build.js';
import { issueCommentPayload, pullRequestPayload } from '../fakes/fake-github-payloads.js';
import { startGithubHarness, eventually, type GithubHarness } from './github-harness.js';

// The step asks for a secret the repository is granted: trusted builds get it, untrusted ones run without it.
const apiToken = `api-token-${process.pid}-secret`;
const secretSpec = [
  'version: 1',
  'image: any',
  'stages:',
  '  test:',
  '    steps:',
  '      - name: unit',
  '        secrets: [{ name: API_TOKEN, env: API_TOKEN }]',
  '        run: \'echo "token set: ${API_TOKEN:+yes}${API_TOKEN:-no}"\'',
  '',
].join('\n');

const outsider = { id: 666, login: 'outsider' };
const member = { id: 7, login: 'maintainer' };
let g: GithubHarness;
let repo: Awaited<ReturnType<typeof makeRepo>>;

before(async () => {
  g = await startGithubHarness({ secrets: { API_TOKEN: apiToken } });
  repo = await makeRepo(g.h.dataDir, 'api', { 'bosun.yml': secretSpec });
  g.h.server.core.config.repos['acme/api'] = { url: repo.url, defaultBranch: 'master', secrets: ['API_TOKEN'] };
  g.gh.addRepo('acme/api', repo.dir);
});
after(async () => {
  await g?.stop();
});

const builds = async (pred: (b: Build) => boolean) => (await g.h.server.core.store.list({ repo: 'acme/api', limit: 100 })).filter(pred);
const settle = () => new Promise((r) => setTimeout(r, 1500));

test('a fork pull request gets a needs-approval status and no build; ok-to-test runs that sha only, without secrets; a new push needs a new approval', async () => {
  const shaA = await repo.commit({ 'a.txt': 'a' }, 'from a fork', 'fork-branch');
  g.gh.addPull('acme/api', { number: 5, headRef: 'fork-branch', baseRef: 'master', user: outsider });
  await g.gh.deliver(
    'pull_request',
    pullRequestPayload({
      action: 'opened',
      repo: 'acme/api',
      number: 5,
      headSha: shaA,
      headRef: 'fork-branch',
      user: outsider,
      association: 'MEMBER',
      fork: true,
    }),
  );

  const waiting = await eventually(
    () => g.gh.statusesFor('acme/api', shaA),
    (s) => s.length > 0,
  );
  assert.deepEqual(
    waiting.map((s) => [s.context, s.state, s.description]),
    [['bosun/ok-to-test', 'pending', 'needs /ci ok-to-test from a trusted user']],
  );
  await settle();
  assert.equal((await builds((b) => b.sha === shaA)).length, 0);

  // The outsider cannot approve themselves.
  await g.gh.deliver('issue_comment', issueCommentPayload({ repo: 'acme/api', number: 5, body: '/ci ok-to-test', user: outsider, association: 'CONTRIBUTOR' }));
  await eventually(
    () => g.gh.comments,
    (c) => c.some((x) => x.body.includes('is not trusted')),
  );
  assert.equal((await builds((b) => b.sha === shaA)).length, 0);

  // A member approves sha A.
  await g.gh.deliver(
    'issue_comment',
    issueCommentPayload({ repo: 'acme/api', number: 5, body: 'looks safe\n/ci ok-to-test', user: member, association: 'MEMBER' }),
  );
  const [buildA] = await eventually(
    () => builds((b) => b.sha === shaA),
    (b) => b.length === 1,
  );
  assert.equal(buildA!.trigger.untrusted, true);
  assert.equal((await g.h.waitDone(buildA!.id)).status, 'success');
  const logA = (await g.h.api('GET', `/api/builds/${buildA!.id}/logs/test/unit`)).json as string;
  assert.match(logA, /^bosun: secret API_TOKEN withheld: untrusted build/m);
  assert.match(logA, /^token set: no$/m);

  // A new push (sha B) is not covered by that approval.
  const shaB = await repo.commit({ 'b.txt': 'b' }, 'second push', 'fork-branch');
  await g.gh.deliver(
    'pull_request',
    pullRequestPayload({
      action: 'synchronize',
      repo: 'acme/api',
      number: 5,
      headSha: shaB,
      headRef: 'fork-branch',
      user: outsider,
      association: 'MEMBER',
      fork: true,
    }),
  );
  await eventually(
    () => g.gh.statusesFor('acme/api', shaB, 'bosun/ok-to-test'),
    (s) => s.at(-1)?.state === 'pending',
  );
  await settle();
  assert.equal((await builds((b) => b.sha === shaB)).length, 0);
});

test("a member's pull request from a branch of the repository is trusted: its step gets the secret", async () => {
  const sha = await repo.commit({ 'm.txt': 'm' }, 'member change', 'member-branch');
  await g.gh.deliver(
    'pull_request',
    pullRequestPayload({ action: 'opened', repo: 'acme/api', number: 8, headSha: sha, headRef: 'member-branch', user: member, association: 'MEMBER' }),
  );

  const [build] = await eventually(
    () => builds((b) => b.sha === sha),
    (b) => b.length === 1,
  );
  assert.equal(build!.trigger.untrusted, undefined);
  assert.equal((await g.h.waitDone(build!.id)).status, 'success');
  const log = (await g.h.api('GET', `/api/builds/${build!.id}/logs/test/unit`)).json as string;
  assert.match(log, /^token set: yes\[REDACTED\]$/m, 'delivered, and redacted where the step printed it');
  assert.ok(!log.includes(apiToken));
});

test('an outside contributor on a branch of the repo is held the same way', async () => {
  const sha = await repo.commit({ 'c.txt': 'c' }, 'outside contributor', 'contrib');
  await g.gh.deliver(
    'pull_request',
    pullRequestPayload({
      action: 'opened',
      repo: 'acme/api',
      number: 6,
      headSha: sha,
      headRef: 'contrib',
      user: outsider,
      association: 'FIRST_TIME_CONTRIBUTOR',
    }),
  );
  await eventually(
    () => g.gh.statusesFor('acme/api', sha, 'bosun/ok-to-test'),
    (s) => s.length === 1,
  );
  await settle();
  assert.equal((await builds((b) => b.sha === sha)).length, 0);
});

test('a repository that is not allowlisted starts nothing', async () => {
  const sha = await repo.commit({ 'd.txt': 'd' }, 'elsewhere', 'elsewhere');
  const res = await g.gh.deliver(
    'pull_request',
    pullRequestPayload({ action: 'opened', repo: 'evil/repo', number: 1, headSha: sha, headRef: 'elsewhere', user: member, association: 'OWNER' }),
  );
  assert.equal(res.status, 202);
  await settle();
  assert.equal((await g.h.server.core.store.list({ limit: 100 })).filter((b) => b.sha === sha).length, 0);
});

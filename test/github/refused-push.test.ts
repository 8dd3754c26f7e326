import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeRepo } from '../support/git-repo.js';
import type { ServerConfigInput } from '../../src/config.js';
import { pushPayload } from '../fakes/fake-github-payloads.js';
import { FakeSlack } from '../fakes/fake-slack.js';
import { startGithubHarness, eventually, testSpec, type GithubHarness } from './github-harness.js';

// A real branch Bosun will not build (R11) used to get 202 and then only a log line. Now the
// pusher sees why on the commit, and the channel where GitHub builds are posted hears of it.
const pusher = { id: 4242, login: 'pusher' };
const buildsChannel = 'C0BUILDS';
let g: GithubHarness;
let slack: FakeSlack;
let repo: Awaited<ReturnType<typeof makeRepo>>;

before(async () => {
  slack = await FakeSlack.start();
  g = await startGithubHarness({
    slack: { mode: 'socket', botToken: 'xoxb-test', appToken: 'xapp-test', apiUrl: slack.apiUrl, defaultChannel: buildsChannel },
  } as ServerConfigInput);
  await slack.connected();
  repo = await makeRepo(g.h.dataDir, 'api', { 'bosun.yml': testSpec });
  g.h.server.core.config.repos['acme/api'] = { url: repo.url, defaultBranch: 'master', secrets: [] };
  g.gh.addRepo('acme/api', repo.dir);
});
after(async () => {
  await g?.stop();
  await slack?.stop();
});

const refused: { label: string; branch: string; why: string }[] = [
  { label: '<!channel>', branch: '<!channel>', why: 'invalid ref "\\u003c!channel\\u003e": must not contain shell metacharacters ;$`"\'|&<>(){}\\!#' },
  {
    label: 'a name with U+202E',
    branch: 'fix-\u202Etxt.exe',
    why: 'invalid ref "fix-\\u202etxt.exe": must not contain control or invisible formatting characters',
  },
  { label: 'a 303-character name', branch: 'b'.repeat(303), why: `invalid ref "${'b'.repeat(60)}...": must be at most 200 characters` },
];

for (const [i, c] of refused.entries()) {
  test(`a push to ${c.label} gets a failed commit status and a chat post saying why, and no build`, async () => {
    const sha = String(i + 1).repeat(40);
    const res = await g.gh.deliver('push', pushPayload({ repo: 'acme/api', ref: `refs/heads/${c.branch}`, after: sha, sender: pusher }));
    assert.equal(res.status, 202);

    const [status] = await eventually(
      () => g.gh.statusesFor('acme/api', sha),
      (s) => s.length > 0,
    );
    const description = `Bosun did not build this: ${c.why}`;
    assert.deepEqual(
      { context: status!.context, state: status!.state, description: status!.description },
      {
        context: 'bosun',
        state: 'failure',
        description: description.length > 140 ? `${description.slice(0, 139)}…` : description,
      },
    );

    const text = `:no_entry: Bosun did not build a push to acme/api (${sha.slice(0, 7)}) by pusher: ${c.why}`
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;');
    const posts = await eventually(
      () => slack.callsOf('chat.postMessage').filter((call) => call.args.channel === buildsChannel && String(call.args.text).includes(sha.slice(0, 7))),
      (p) => p.length > 0,
    );
    assert.deepEqual(
      posts.map((p) => p.args.text),
      [text],
    );
    assert.ok(!String(posts[0]!.args.text).includes('<!channel>'), 'the branch name cannot ping the channel');

    // Redelivered (GitHub retries, or a second subscription): told once.
    await g.gh.deliver('push', pushPayload({ repo: 'acme/api', ref: `refs/heads/${c.branch}`, after: sha, sender: pusher }));
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(g.gh.statusesFor('acme/api', sha).length, 1);
    assert.equal((await g.h.server.core.store.list({ repo: 'acme/api', limit: 50 })).filter((b) => b.sha === sha).length, 0);
  });
}

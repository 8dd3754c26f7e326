import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSlackBed, buildIdOf, type SlackBed } from './slack-test-bed.js';
import { makeRepo } from '../../support/git-repo.js';
import { testToken } from '../../support/bosun-harness.js';

let bed: SlackBed;
before(async () => {
  bed = await startSlackBed('socket'); // slack.dmRequester: failures, the default
});
after(async () => {
  await bed?.stop();
});

const failingSpec = ['version: 1', 'image: any', 'stages:', '  test:', '    steps:', '      - name: unit', '        run: "echo nope; exit 2"', ''].join('\n');

/** Types `/ci <text>` as `user` and returns the ephemeral answer. */
async function ask(text: string, user: string): Promise<string> {
  const before = bed.fake.ephemerals.filter((e) => e.user === user).length;
  await bed.command(text, user, { channel: 'CN' });
  const answer = await bed.fake.waitFor(() => bed.fake.ephemerals.filter((e) => e.user === user)[before], 30_000, `answer to ${text}`);
  return answer.text;
}

/** Runs `repo#master` as `user` in `channel` and waits until its root says how it ended. */
async function runBuild(repo: string, user: string, channel: string, ending: RegExp): Promise<string> {
  await bed.command(`build ${repo}#master`, user, { channel });
  const thread = await bed.fake.waitFor(() => bed.fake.channel(channel)[0], 30_000, 'root');
  const id = buildIdOf(thread.root.text);
  await bed.h.waitDone(id);
  await bed.fake.waitFor(() => ending.test(bed.fake.messages.get(thread.root.ts)!.text), 30_000, 'final root');
  return id;
}

const dmsTo = (user: string) => bed.fake.callsOf('chat.postMessage').filter((c) => c.args.channel === `D${user}`);

test('`notify me` shows the server default; `notify me never` means no DM even for a failed build', async () => {
  assert.match(await ask('notify me', 'UNEVER'), /You get a DM when your build fails.*\(failures: the server default/);
  assert.match(await ask('notify me never', 'UNEVER'), /Done: you get no DMs about your builds \(never\)/);
  assert.match(await ask('notify me', 'UNEVER'), /\(never: your choice\)/);

  const repo = await makeRepo(bed.h.dataDir, 'broken', { 'bosun.yml': failingSpec });
  bed.h.server.core.config.repos.broken = { url: repo.url, defaultBranch: 'master', secrets: [] };
  await runBuild('broken', 'UNEVER', 'CN1', /: failed/);
  // A control build by a user on the default, after it: the reporter handles events one at a
  // time in stream order, so once the control's DM is there, any DM about the first build is too.
  const control = await runBuild('broken', 'UDEFAULT', 'CN3', /: failed/);
  await bed.fake.waitFor(
    () => dmsTo('UDEFAULT').find((c) => new RegExp(`#${control} broken#master finished: failed`).test(String(c.args.text))),
    30_000,
    'control DM',
  );
  assert.deepEqual(dmsTo('UNEVER'), [], 'no DM for the user who chose never');
  assert.equal(bed.fake.callsOf('conversations.open').filter((c) => c.args.users === 'UNEVER').length, 0);
});

test('`notify me always` means a DM for a successful build (the default sends none)', async () => {
  assert.match(await ask('notify me on always', 'UALWAYS'), /\(always\)/);
  const id = await runBuild('demo', 'UALWAYS', 'CN2', /: success/);
  const dm = await bed.fake.waitFor(
    () => dmsTo('UALWAYS').find((c) => new RegExp(`#${id} demo#master finished: success`).test(String(c.args.text))),
    30_000,
    'DM',
  );
  assert.ok(dm);
});

test('the grammar: `on failure` and `failures` are one choice; anything else gets the usage', async () => {
  assert.match(await ask('notify me on failure', 'UGRAMMAR'), /\(failures\)/);
  assert.match(await ask('notify me', 'UGRAMMAR'), /\(failures: your choice\)/);
  assert.match(await ask('notify me sometimes', 'UGRAMMAR'), /Choose one of: on failure, always, never\.\nusage: notify me \[on failure\|always\|never\]/);
  assert.match(await ask('notify bob never', 'UGRAMMAR'), /each person chooses for themselves/);
});

test('the same command through the API: an API token has no chat to be DMed in, and is told so', async () => {
  const res = await fetch(`${bed.h.url}/api/commands`, {
    method: 'POST',
    headers: { authorization: `Bearer ${testToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ text: 'notify me never' }),
  });
  assert.equal(res.status, 200);
  const reply = (await res.json()) as { text: string; kind: string };
  assert.equal(reply.kind, 'error');
  assert.match(reply.text, /tester \(api:tester\) has no chat to DM/);
});

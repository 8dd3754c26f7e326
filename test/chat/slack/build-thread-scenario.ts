import assert from 'node:assert/strict';
import { FakeSlack } from '../../fakes/fake-slack.js';
import { makeRepo } from '../../support/git-repo.js';
import { buildIdOf, type SlackBed } from './slack-test-bed.js';

export const leakedSecret = 'hunter2-very-secret-value';

const failingSpec = [
  'version: 1',
  'image: any',
  'stages:',
  '  test:',
  '    steps:',
  '      - name: unit',
  `        run: "for i in $(seq 1 60); do echo output line $i; done; echo token=${leakedSecret}; echo 'boom <!channel>'; exit 3"`,
  '',
].join('\n');

/** `/ci build demo#master`: ack fast, one root message that summarises every stage and step, final status. */
export async function scenarioGreenBuild(bed: SlackBed): Promise<void> {
  const { fake, h } = bed;
  const ack = await bed.command('build demo#master', 'UDEV');
  assert.ok(ack.ms < 3000, `acked within Slack's 3 s: ${ack.ms} ms`);
  console.log(`${bed.mode}: /ci build acked in ${ack.ms} ms`);

  const thread = await fake.waitFor(() => fake.channel('C1').find((t) => /Build #/.test(t.root.text)), 60_000, 'root message');
  const id = buildIdOf(thread.root.text);
  await h.waitDone(id);
  const done = await fake.waitFor(
    () => {
      const t = fake.channel('C1').find((x) => x.root.ts === thread.root.ts)!;
      return /: success/.test(t.root.text) ? t : null;
    },
    60_000,
    'final status',
  );

  const root = FakeSlack.plain(done.root);
  assert.match(root, /demo#master/);
  assert.match(root, /<@UDEV>/, 'who started it');
  assert.match(root, /\*Commit\* `[0-9a-f]{7}`/);
  assert.ok(done.root.edits >= 2, 'root message is updated in place');
  // The root is the build's summary: each stage and step with its duration. A green build's
  // quick steps post nothing of their own (no stage replies, no live-log messages).
  assert.match(root, /:white_check_mark: \*test\* \d+(ms|s) — :white_check_mark: unit \d+(ms|s) · :white_check_mark: lint \d+(ms|s)/);
  assert.match(root, /:white_check_mark: \*e2e\* \d+(ms|s) — :white_check_mark: smoke \d+(ms|s)/);
  assert.deepEqual(
    done.replies.map((r) => r.text),
    [],
    'a green build of quick steps leaves its thread empty',
  );
  const ephemeral = fake.ephemerals.find((e) => e.user === 'UDEV' && /Queued/.test(e.text));
  assert.ok(ephemeral, 'the asker gets a private confirmation');
}

/** A failing build: last lines, a link and the full log file in the thread; secrets never reach Slack. */
export async function scenarioFailingBuild(bed: SlackBed): Promise<void> {
  const { fake, h } = bed;
  const repo = await makeRepo(h.dataDir, 'broken', { 'bosun.yml': failingSpec });
  h.server.core.config.repos.broken = { url: repo.url, defaultBranch: 'master', secrets: [] };
  await bed.command('build broken#master', 'UDEV', { channel: 'C2' });
  const thread = await fake.waitFor(() => fake.channel('C2')[0], 60_000, 'root message');
  const id = buildIdOf(thread.root.text);
  const build = await h.waitDone(id);
  assert.equal(build.status, 'failed');

  const done = await fake.waitFor(
    () => {
      const t = fake.channel('C2')[0]!;
      return /: failed/.test(t.root.text) && t.files.length > 0 && t.files[0]!.content.length > 0 ? t : null;
    },
    60_000,
    'failure report',
  );
  const failure = done.replies.find((r) => /Step test › unit failed \(exit 3\)/.test(r.text));
  assert.ok(failure, done.replies.map((r) => r.text).join('\n---\n'));
  assert.match(failure.text, /output line 60/);
  assert.doesNotMatch(failure.text, /output line 20\n/, 'only the last ~30 lines');
  assert.match(failure.text, /boom &lt;!channel&gt;/, 'log text is escaped (R12)');
  assert.match(failure.text, new RegExp(`/builds/${id}\\|`), 'a link to the full log');
  assert.match(FakeSlack.plain(done.root), /Retry/);
  const file = done.files[0]!;
  assert.match(file.content, /output line 1\n/);
  assert.match(file.content, /output line 60/);
  const everything = JSON.stringify(fake.calls) + fake.files.map((f) => f.content).join('');
  assert.ok(!everything.includes(leakedSecret), 'no secret reaches Slack (R13)');
  const dm = await fake.waitFor(
    () => fake.callsOf('chat.postMessage').find((c) => c.args.channel === 'DUDEV' && new RegExp(`#${id} broken#master finished: failed`).test(c.args.text)),
    60_000,
    'DM',
  );
  assert.ok(dm, 'the requester gets a DM when the build finishes');
}

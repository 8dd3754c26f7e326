import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Build } from '../../../src/domain/build.js';
import {
  actionIds,
  renderCheckpoint,
  renderDecided,
  renderFailure,
  renderLogExcerpt,
  renderReply,
  renderRoot,
  renderStage,
} from '../../../src/chat/slack/render-build.js';

function build(over: Partial<Build> = {}): Build {
  return {
    id: '7',
    repo: 'demo',
    ref: 'master',
    sha: '0123456789abcdef0123456789abcdef01234567',
    status: 'running',
    attempt: 1,
    version: 1,
    createdAt: '2026-01-01T00:00:00Z',
    trigger: { event: 'manual', source: 'slack', actor: { id: 'slack:T1/UDEV', name: 'dev' }, chat: { platform: 'slack', channel: 'C1' } },
    stages: [{ name: 'test', status: 'running', needs: [], labels: [], resources: [], steps: [] }],
    ...over,
  } as Build;
}

const buttonsOf = (blocks: Record<string, any>[] | undefined) => blocks?.find((b) => b.type === 'actions')?.elements.map((e: any) => e.action_id) ?? [];

test('root: a branch named <!channel> is shown inert as &lt;!channel&gt; (R12)', () => {
  const msg = renderRoot(build({ ref: '<!channel>' }));
  assert.match(msg.text, /demo#&lt;!channel&gt;/);
  assert.ok(!JSON.stringify(msg).includes('<!channel>'));
});

test('root: a running build offers Cancel and View log; the requester is a mention by stable id', () => {
  const msg = renderRoot(build(), 'http://ci/builds/7');
  assert.deepEqual(buttonsOf(msg.blocks), [actionIds.cancel, actionIds.viewLog]);
  assert.match(JSON.stringify(msg.blocks), /<@UDEV>/);
  assert.match(JSON.stringify(msg.blocks), /`0123456`/);
});

test('root: a failed build offers Retry; a successful one only View log', () => {
  assert.deepEqual(buttonsOf(renderRoot(build({ status: 'failed' }), 'u').blocks), [actionIds.retry, actionIds.viewLog]);
  assert.deepEqual(buttonsOf(renderRoot(build({ status: 'success' }), 'u').blocks), [actionIds.viewLog]);
});

test('root: a non-Slack requester name is escaped, never a mention', () => {
  const msg = renderRoot(build({ trigger: { event: 'push', source: 'github', actor: { id: 'github:1', name: '<!here>' } } }));
  assert.match(JSON.stringify(msg.blocks), /&lt;!here&gt;/);
});

test('log excerpt: keeps the last ~3.5k characters in one code block and breaks ``` inside it', () => {
  const lines = Array.from({ length: 1000 }, (_, i) => `line ${i + 1} \`\`\``);
  const msg = renderLogExcerpt('test', 'unit', lines, false);
  assert.ok(msg.text.length < 4000);
  assert.match(msg.text, /line 1000/);
  assert.equal(msg.text.match(/```/g)?.length, 2, 'only our own fences');
  assert.match(msg.text, /\(live\)/);
});

test('failure: last lines escaped, and a link to the full log', () => {
  const msg = renderFailure(build({ status: 'failed' }), 'test', 'unit', ['ok', '<@U999> boom'], 'http://ci/builds/7');
  assert.match(msg.text, /&lt;@U999&gt; boom/);
  assert.match(msg.text, /<http:\/\/ci\/builds\/7\|build #7>/);
});

test('checkpoint: a manual test asks Pass / Fail, a promotion Approve / Reject, with value = build|stage', () => {
  const cp = {
    buildId: '7',
    stage: 'e2e',
    instructions: 'Try <it>',
    checklist: ['Login'],
    approvers: 'qa',
    deadline: '2026-01-01T04:00:00Z',
    resource: 'pixel-7',
  };
  const manual = renderCheckpoint(cp, false);
  const promo = renderCheckpoint(cp, true);
  const labels = (m: typeof manual) => m.blocks!.find((b) => b.type === 'actions')!.elements as { text: { text: string }; value: string; action_id: string }[];
  assert.deepEqual(
    labels(manual).map((e) => e.text.text),
    ['Pass', 'Fail'],
  );
  assert.deepEqual(
    labels(promo).map((e) => e.text.text),
    ['Approve', 'Reject'],
  );
  assert.deepEqual(
    labels(manual).map((e) => e.value),
    ['7|e2e', '7|e2e'],
  );
  assert.match(manual.text, /Try &lt;it&gt;/);
  assert.match(manual.text, /Resource: pixel-7/);
});

test('decided: says who and when, and has no buttons', () => {
  const msg = renderDecided({ buildId: '7', stage: 'deploy' }, 'pass', { id: 'slack:T1/UQA', name: 'qa' }, '2026-01-01T01:00:00Z', true);
  assert.match(msg.text, /Approved by <@UQA> <!date\^1767229200\^\{date_short_pretty\} \{time\}\|1 Jan 01:00 UTC>/);
  assert.deepEqual(buttonsOf(msg.blocks), []);
});

test('command replies: untrusted text is escaped and code lines go in a block', () => {
  const msg = renderReply({ text: 'unknown ref <!channel>', code: ['a', 'b'] });
  assert.match(msg.text, /^unknown ref &lt;!channel&gt;\n```\na\nb\n```$/);
});

test('failure: huge lines are cut to a bounded message', () => {
  const lines = Array.from({ length: 30 }, (_, i) => `${i} ${'<'.repeat(5000)}`);
  const msg = renderFailure(build({ status: 'failed' }), 'test', 'unit', lines);
  assert.ok(msg.text.length < 10_000, `${msg.text.length} chars`);
});

test('root: an invalid spec shows every error, one per line; past what a Slack section holds, it says how many more', () => {
  const lines = ['bosun.yml:3:5 stages.x.deploy: not supported yet', 'bosun.yml:9:1 stages.y: stage `y` does nothing'];
  const few = renderRoot(
    build({ status: 'failed', stages: [], error: { code: 'spec_invalid', message: ['2 problems in the build spec:', ...lines].join('\n'), details: lines } }),
  );
  const text = (few.blocks?.[0] as { text: { text: string } }).text.text;
  for (const line of lines) assert.ok(text.includes(line), line);

  const many = Array.from({ length: 100 }, (_, i) => `bosun.yml:${i + 1}:1 stages.s${i}: unknown key \`x\` and some more words to make it long`);
  const root = renderRoot(build({ status: 'failed', stages: [], error: { code: 'spec_invalid', message: many.join('\n'), details: many } }));
  const section = (root.blocks?.[0] as { text: { text: string } }).text.text;
  assert.ok(section.length <= 3000, `${section.length} characters`);
  assert.match(section, /bosun\.yml:1:1 stages\.s0/);
  assert.match(section, /… \d+ more lines on the build page$/);
});

test('times are Slack dates each reader sees in their own zone, with a readable UTC fallback', () => {
  const card = renderCheckpoint(
    { buildId: '7', stage: 'deploy', instructions: 'ship it', checklist: [], approvers: 'leads', deadline: '2026-12-06T09:05:06.298Z' },
    true,
  );
  assert.match(card.text, /Deadline: <!date\^1796547906\^\{date_short_pretty\} \{time\}\|6 Dec 09:05 UTC>/);
  assert.ok(!card.text.includes('2026-12-06T09:05'), 'no raw ISO time');
  const decided = renderDecided({ buildId: '7', stage: 'deploy' }, 'pass', { id: 'slack:T1/ULEAD', name: 'lead' }, '2026-12-06T09:05:06.298Z', true);
  assert.match(decided.text, /Approved by <@ULEAD> <!date\^1796547906\^\{date_short_pretty\} \{time\}\|6 Dec 09:05 UTC> — stage \*deploy\*/);
});

test("stage lines carry durations: the root's stage and step lines, the stage reply", () => {
  const stage = {
    name: 'test',
    status: 'success',
    needs: [],
    labels: [],
    resources: [],
    startedAt: '2026-01-01T00:00:00Z',
    finishedAt: '2026-01-01T00:00:12Z',
    steps: [{ name: 'unit', status: 'success', runs: 1, startedAt: '2026-01-01T00:00:01Z', finishedAt: '2026-01-01T00:00:04.400Z' }],
  };
  const root = renderRoot(build({ status: 'success', stages: [stage] as unknown as Build['stages'] }));
  assert.match(JSON.stringify(root.blocks), /:white_check_mark: \*test\* 12s — :white_check_mark: unit 3s/);
  const reply = renderStage(stage as unknown as Build['stages'][number]);
  assert.equal(reply.text, ':white_check_mark: Stage *test*: success 12s — :white_check_mark: unit 3s');
});

test('a stage reply lists what the stage published (images by digest) and why publishing failed', () => {
  const digest = `sha256:${'e'.repeat(64)}`;
  const stage = {
    name: 'release',
    status: 'failed',
    needs: [],
    labels: [],
    resources: [],
    steps: [],
    publishError: "index internal (pypi.example) refused Bosun's credentials",
  } as unknown as Build['stages'][number];
  const reply = renderStage(stage, [
    { kind: 'docker', stage: 'release', image: 'registry.example/acme/api', tag: 'abc', digest, ref: `registry.example/acme/api@${digest}`, publishedAt: '' },
    { kind: 'pypi', stage: 'other', repository: 'internal', package: 'x', version: '1', files: [], publishedAt: '' },
  ]);
  assert.equal(
    reply.text,
    `:x: Stage *release*: failed\npublished registry.example/acme/api@${digest}\npublish failed: index internal (pypi.example) refused Bosun's credentials`,
  );
});

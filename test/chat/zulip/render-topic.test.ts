import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { topicName, zulipCodeBlock, zulipText } from '../../../src/chat/zulip/zulip-markdown.js';
import { actorLabel, buildTopic, renderReply } from '../../../src/chat/zulip/render-topic.js';

const zwsp = '\u200b';

const cases: { name: string; text: string; expected: string }[] = [
  { name: 'a branch cannot ping everyone', text: 'fix-@**all**', expected: `fix-@${zwsp}**all**` },
  { name: 'a commit message cannot open a spoiler', text: '```spoiler secret', expected: `\`${zwsp}\`${zwsp}\`spoiler secret` },
  { name: 'nor a tilde fence', text: '~~~quote', expected: `~${zwsp}~${zwsp}~quote` },
  { name: 'nor hide a link target', text: '[main](http://evil)', expected: `[main]${zwsp}(http://evil)` },
  { name: 'single backticks (inline code) are left alone', text: 'use `npm ci`', expected: 'use `npm ci`' },
];
for (const c of cases) {
  test(`zulipText: ${c.name}`, () => {
    assert.equal(zulipText(c.text), c.expected);
  });
}

test('zulipCodeBlock property: the only fences are our two, whatever the log line holds', () => {
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom('`', '~', 'a', '\n', '@', '*') }), (text) => {
      const out = zulipCodeBlock(text);
      assert.equal(out.split('```').length - 1, 2);
      assert.ok(!out.includes('~~~'));
      assert.ok(out.startsWith('```text\n') && out.endsWith('\n```'));
      assert.equal(out.slice('```text\n'.length, -4).replaceAll(zwsp, ''), text);
    }),
  );
});

test('topics are plain, one line, at most 60 characters', () => {
  assert.equal(buildTopic({ id: '42', repo: 'demo', ref: 'master' }), 'build #42 demo#master');
  const long = buildTopic({ id: '42', repo: 'acme/api', ref: `feature/${'x'.repeat(80)}\nnext` });
  assert.equal(long.length, 60);
  assert.ok(!long.includes('\n') && long.endsWith('…'));
  assert.equal(topicName('a\tb'), 'a b');
});

test('actors: a Zulip person of this realm is a silent mention; others are escaped names with their platform', () => {
  assert.equal(actorLabel({ id: 'zulip:chat.test/7', name: 'Dana **Dev**' }, 'chat.test'), '@_**Dana Dev|7**_');
  assert.equal(actorLabel({ id: 'zulip:other.test/7', name: 'x' }, 'chat.test'), 'x');
  assert.equal(actorLabel({ id: 'slack:T1/U1', name: '@**all**' }, 'chat.test'), `@${zwsp}**all** (slack)`);
});

test('replies: help keeps its layout in a code block; other text is escaped', () => {
  assert.match(renderReply({ text: 'Bosun commands:\n  build <repo>', kind: 'help' }), /^```text\nBosun commands:\n {2}build <repo>\n```$/);
  assert.equal(renderReply({ text: 'Queued #1 x@**all**', kind: 'ok' }), `Queued #1 x@${zwsp}**all**`);
});

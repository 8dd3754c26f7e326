import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { codeBlock, escapeSlack, escapeZulip } from '../../src/domain/escape-chat.js';

const zwsp = '\u200b';

describe('escapeSlack', () => {
  const cases: { name: string; text: string; expected: string }[] = [
    { name: 'a branch named <!channel> is posted inert', text: '<!channel>', expected: '&lt;!channel&gt;' },
    { name: 'a user mention is posted inert', text: '<@U123>', expected: '&lt;@U123&gt;' },
    { name: 'a link with forged text is posted inert', text: '<http://x|y>', expected: '&lt;http://x|y&gt;' },
    { name: 'an ampersand is escaped first, so entities stay literal', text: 'a &lt; b & c', expected: 'a &amp;lt; b &amp; c' },
    { name: 'plain text is unchanged', text: 'feature/x-1 *bold* _it_', expected: 'feature/x-1 *bold* _it_' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(escapeSlack(c.text), c.expected);
    });
  }

  it('property: the output has no < or >, and every & starts an entity we wrote', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const out = escapeSlack(text);

        assert.ok(!/[<>]/.test(out));
        assert.ok(!/&(?!amp;|lt;|gt;)/.test(out));
        assert.equal(out.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&'), text);
      }),
    );
  });
});

describe('codeBlock', () => {
  it('wraps text in a fenced block on its own lines', () => {
    assert.equal(codeBlock('npm test'), '```\nnpm test\n```');
  });

  it('breaks a ``` inside the text so it cannot close the block', () => {
    const out = codeBlock('before\n```\n<!channel> escaped\n```');

    assert.equal(out, `\`\`\`\nbefore\n\`${zwsp}\`${zwsp}\`\n&lt;!channel&gt; escaped\n\`${zwsp}\`${zwsp}\`\n\`\`\``);
  });

  it('escapes & < > inside the block too', () => {
    assert.equal(codeBlock('<@U123> & co'), '```\n&lt;@U123&gt; &amp; co\n```');
  });

  it('property: the only ``` are our two fences', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('`', '`', 'a', '\n', '<', '&') }), (text) => {
        const out = codeBlock(text);

        assert.equal(out.split('```').length - 1, 2);
        assert.ok(out.startsWith('```\n') && out.endsWith('\n```'));
        assert.ok(!/[<>]/.test(out));
      }),
    );
  });
});

describe('escapeZulip', () => {
  const cases: { name: string; text: string; expected: string }[] = [
    { name: '@**all** cannot ping the stream', text: 'hi @**all**', expected: `hi @${zwsp}**all**` },
    { name: 'a user mention cannot ping', text: '@**Iago**', expected: `@${zwsp}**Iago**` },
    { name: 'a silent mention is broken too', text: '@_**Iago**_', expected: `@${zwsp}_**Iago**_` },
    { name: 'a group mention is broken', text: '@*admins*', expected: `@${zwsp}*admins*` },
    { name: 'a stream link cannot be forged', text: '#**general>deploys**', expected: `#${zwsp}**general>deploys**` },
    { name: 'an inline link cannot hide its target', text: '[main](http://evil)', expected: `[main]${zwsp}(http://evil)` },
    { name: 'a reference link is broken', text: '[main][1]', expected: `[main]${zwsp}[1]` },
    { name: 'a link definition is broken', text: '[1]: http://evil', expected: `[1]${zwsp}: http://evil` },
    { name: 'an email address and plain text are unchanged', text: 'ci@example.com fixed #42 [wip]', expected: 'ci@example.com fixed #42 [wip]' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(escapeZulip(c.text), c.expected);
    });
  }

  it('property: no mention or link trigger survives, and removing the zero-width spaces gives the text back', () => {
    const unit = fc.constantFrom('@', '#', '*', '_', '[', ']', '(', ':', 'a', ' ');
    fc.assert(
      fc.property(fc.string({ unit }), (text) => {
        const out = escapeZulip(text);

        assert.ok(!/[@#][*_]/.test(out));
        assert.ok(!/\][([:]/.test(out));
        assert.equal(out.replaceAll(zwsp, ''), text);
      }),
    );
  });
});

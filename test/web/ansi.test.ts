import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ansiToHtml, stripAnsi } from '../../src/http/web/client/ansi.js';

const E = '\x1b';

const cases: { name: string; line: string; html: string }[] = [
  { name: 'plain text is escaped', line: 'a < b && c > "d"', html: 'a &lt; b &amp;&amp; c &gt; &quot;d&quot;' },
  { name: 'a script tag in the log stays text', line: '<script>alert(1)</script>', html: '&lt;script&gt;alert(1)&lt;/script&gt;' },
  { name: 'red then reset', line: `${E}[31mred${E}[0m plain`, html: '<span class="fc1">red</span> plain' },
  { name: 'bold green, combined codes', line: `${E}[1;32mok${E}[m`, html: '<span class="fc2 ab">ok</span>' },
  { name: 'bright colours and background', line: `${E}[91;44mx`, html: '<span class="fc9 bc4">x</span>' },
  { name: '22 ends bold, colour stays', line: `${E}[1;33ma${E}[22mb`, html: '<span class="fc3 ab">a</span><span class="fc3">b</span>' },
  { name: '256-colour palette', line: `${E}[38;5;196mx`, html: '<span style="color:#ff0000">x</span>' },
  { name: 'true colour background', line: `${E}[48;2;1;2;3mx`, html: '<span style="background:#010203">x</span>' },
  { name: 'escaped text inside a colour', line: `${E}[31m<img src=x onerror=alert(1)>`, html: '<span class="fc1">&lt;img src=x onerror=alert(1)&gt;</span>' },
  { name: 'cursor moves and OSC titles are dropped', line: `a${E}[2Kb${E}]0;title\x07c`, html: 'abc' },
  { name: 'an SGR cannot smuggle markup', line: `${E}[31;"><b>m x`, html: '[31;&quot;&gt;&lt;b&gt;m x' },
];

for (const c of cases) {
  test(`ansi: ${c.name}`, () => {
    assert.equal(ansiToHtml(c.line), c.html);
  });
}

test('ansi: search marks wrap the matched text across colour changes', () => {
  const line = `${E}[31mhello ${E}[32mworld`;
  assert.equal(stripAnsi(line), 'hello world');
  assert.equal(
    ansiToHtml(line, [[4, 7]], 0),
    '<span class="fc1">hell<mark class="cur">o </mark></span><span class="fc2"><mark class="cur">w</mark>orld</span>',
    'one hit split by a colour change is current in both parts',
  );
});

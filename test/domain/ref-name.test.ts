import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { UserError } from '../../src/errors.js';
import { isSha, parseTarget, safeRefCharacters, validateRefName, validateRepoName } from '../../src/domain/ref-name.js';

function rejectsWith(fn: () => unknown, rule: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UserError, 'expected a UserError');
    assert.equal(err.code, 'bad_request');
    assert.ok(err.message.includes(rule), `message ${JSON.stringify(err.message)} should name "${rule}"`);
    return true;
  });
}

describe('validateRefName', () => {
  const rejected: { name: string; ref: string; rule: string }[] = [
    // R11's list.
    { name: "GitHub's injection example (a valid git ref, refused by Bosun policy)", ref: 'zzz";echo${IFS}"hello";#', rule: 'shell metacharacters' },
    { name: 'an option smuggled as a ref', ref: '--upload-pack=touch pwned', rule: 'whitespace' },
    { name: 'an option without spaces', ref: '--upload-pack=touch', rule: 'must not start with -' },
    { name: 'command substitution', ref: '$(id)', rule: 'shell metacharacters' },
    { name: 'backtick substitution', ref: '`id`', rule: 'shell metacharacters' },
    { name: 'a double dot', ref: 'a..b', rule: 'must not contain ..' },
    { name: 'a .lock component', ref: 'x.lock', rule: 'may end with .lock' },
    { name: 'a .lock component in the middle', ref: 'feature/x.lock/y', rule: 'may end with .lock' },
    { name: 'a right-to-left override (U+202E)', ref: 'main\u202Egpj.exe', rule: 'invisible formatting' },
    { name: 'a zero-width space (\\p{Cf})', ref: 'ma\u200Bin', rule: 'invisible formatting' },
    { name: 'a 300-character name', ref: 'a'.repeat(300), rule: 'at most 200 characters' },
    { name: 'a Slack link form', ref: '<http://evil|main>', rule: 'shell metacharacters' },
    // git check-ref-format.
    { name: 'empty', ref: '', rule: 'must not be empty' },
    { name: 'a component starting with .', ref: 'feature/.hidden', rule: 'start with .' },
    { name: 'a leading .', ref: '.main', rule: 'start with .' },
    { name: 'a double slash', ref: 'feature//x', rule: '//' },
    { name: 'a trailing slash', ref: 'feature/', rule: 'end with /' },
    { name: 'a leading slash', ref: '/main', rule: 'start or end with /' },
    { name: 'the reflog syntax @{', ref: 'main@{1}', rule: 'shell metacharacters' },
    { name: 'a tilde', ref: 'main~1', rule: '~ ^ :' },
    { name: 'a caret', ref: 'main^2', rule: '~ ^ :' },
    { name: 'a colon', ref: 'a:b', rule: '~ ^ :' },
    { name: 'a question mark', ref: 'a?b', rule: '? * [' },
    { name: 'a star', ref: 'a*b', rule: '? * [' },
    { name: 'an open bracket', ref: 'a[b', rule: '? * [' },
    { name: 'a backslash', ref: 'a\\b', rule: 'shell metacharacters' },
    { name: 'a trailing dot', ref: 'main.', rule: 'must not end with .' },
    { name: 'a single @', ref: '@', rule: 'must not be @ alone' },
    { name: 'a control character', ref: 'a\u0007b', rule: 'control' },
    { name: 'DEL', ref: 'a\u007fb', rule: 'control' },
    { name: 'a newline', ref: 'main\nrm', rule: 'control' },
    { name: 'a tab', ref: 'a\tb', rule: 'control' },
    { name: 'a space', ref: 'a b', rule: 'whitespace' },
    { name: 'a non-breaking space', ref: 'a\u00a0b', rule: 'whitespace' },
    { name: 'non-ASCII letters', ref: 'fix/café', rule: 'printable ASCII' },
    { name: 'a pipe', ref: 'a|b', rule: 'shell metacharacters' },
    { name: 'a semicolon', ref: 'a;b', rule: 'shell metacharacters' },
    { name: 'a quote', ref: "a'b", rule: 'shell metacharacters' },
    { name: 'braces', ref: 'a{b}', rule: 'shell metacharacters' },
    { name: 'a history expansion', ref: 'a!b', rule: 'shell metacharacters' },
  ];
  for (const c of rejected) {
    it(`rejects ${c.name}`, () => {
      rejectsWith(() => validateRefName(c.ref), c.rule);
    });
  }

  it('rejects the two-character sequence @{ even where its braces would be allowed', () => {
    // Braces are already shell metacharacters; this documents that git's rule is also checked.
    rejectsWith(() => validateRefName('a@{'), 'shell metacharacters');
  });

  const accepted = [
    'master',
    'main',
    'feature/x-1',
    'release/1.2.3',
    'dependabot/npm_and_yarn/foo-1.2',
    'renovate/node-20.x',
    'v1.0.0',
    'user@host',
    'a+b=c,d',
    'fix_%20',
    'a/b.c/d',
    'x'.repeat(200),
    'ab12cd'.repeat(6) + 'abcd',
  ];
  for (const ref of accepted) {
    it(`accepts ${ref.length > 40 ? `${ref.slice(0, 20)}… (${ref.length} chars)` : ref}`, () => {
      assert.equal(validateRefName(ref), ref);
    });
  }

  it('quotes the offending input inertly in its message', () => {
    assert.throws(
      () => validateRefName('<!channel>\u202E`x`'),
      (err: unknown) => {
        assert.ok(err instanceof UserError);
        assert.ok(!/[<>`\u202E]/.test(err.message), err.message);
        assert.ok(err.message.includes('\\u003c!channel\\u003e\\u202e'), err.message);
        return true;
      },
    );
  });

  it('truncates a long offending input in its message', () => {
    assert.throws(
      () => validateRefName('a'.repeat(300)),
      (err: unknown) => err instanceof Error && err.message.length < 150,
    );
  });

  it('property: any string is either refused with a UserError or returned unchanged, safe for argv', () => {
    const anyText = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.string({ unit: fc.constantFrom('a', 'b', '-', '.', '/', '@', '{', 'l', 'o', 'c', 'k', '$', ' ', '\u202e', '~'), maxLength: 20 }),
    );
    fc.assert(
      fc.property(anyText, (ref) => {
        let result: string;
        try {
          result = validateRefName(ref);
        } catch (err) {
          assert.ok(err instanceof UserError && err.code === 'bad_request');
          return;
        }

        assert.equal(result, ref);
        assert.ok(!result.startsWith('-'));
        assert.ok(safeRefCharacters.test(result), JSON.stringify(result));
        assert.ok(!result.includes('..') && !result.includes('//') && !result.endsWith('.lock'));
      }),
      { numRuns: 2000 },
    );
  });
});

/** The real `git check-ref-format`, run without a shell, as the reference for git's own rules. */
function gitAccepts(ref: string): boolean {
  try {
    execFileSync('git', ['check-ref-format', '--allow-onelevel', ref], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('validateRefName agrees with git check-ref-format', () => {
  it('every git rule case we reject is rejected by git too, except for Bosun-only policy', () => {
    const gitInvalid = [
      'a..b',
      'x.lock',
      'feature/.hidden',
      '.main',
      'feature//x',
      'feature/',
      '/main',
      'main@{1}',
      'main~1',
      'main^2',
      'a:b',
      'a?b',
      'a*b',
      'a[b',
      'a\\b',
      'main.',
      '@',
      'a\u0007b',
      'a b',
    ];
    for (const ref of gitInvalid) {
      assert.equal(gitAccepts(ref), false, `git accepts ${JSON.stringify(ref)}`);
      assert.throws(() => validateRefName(ref), UserError);
    }
  });

  it('property: every name we accept, git accepts', () => {
    const unit = fc.constantFrom('a', 'Z', '0', '-', '.', '/', '@', '_', '+', '=', ',', '%', ']', 'l', 'o', 'c', 'k', '{', '~');
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 16 }), (ref) => {
        let accepted = true;
        try {
          validateRefName(ref);
        } catch {
          accepted = false;
        }

        if (accepted) assert.ok(gitAccepts(ref), `git refuses ${JSON.stringify(ref)}, which we accepted`);
      }),
      { numRuns: 200 },
    );
  });
});

describe('validateRepoName', () => {
  const accepted = ['bosun', 'acme/api', 'acme-corp/web.app', 'A_b.c-d/e_f', 'x'.repeat(100)];
  for (const repo of accepted) {
    it(`accepts ${repo.length > 40 ? `${repo.length} chars` : repo}`, () => {
      assert.equal(validateRepoName(repo), repo);
    });
  }

  const rejected: { name: string; repo: string; rule: string }[] = [
    { name: 'empty', repo: '', rule: 'must not be empty' },
    { name: 'a leading -', repo: '-rf', rule: 'must not start with -' },
    { name: 'a name starting with - after the owner', repo: 'acme/--upload-pack', rule: 'must not start with -' },
    { name: 'a double dot', repo: 'acme/..', rule: 'must not contain ..' },
    { name: 'a bare dot', repo: 'acme/.', rule: 'must not be .' },
    { name: 'two slashes', repo: 'a/b/c', rule: 'owner/name or a bare name' },
    { name: 'an empty owner', repo: '/api', rule: 'empty owner or name' },
    { name: 'a 101-character name', repo: 'x'.repeat(101), rule: 'at most 100 characters' },
    { name: 'a space', repo: 'acme api', rule: 'may only contain' },
    { name: 'a shell metacharacter', repo: 'acme/$(id)', rule: 'may only contain' },
    { name: 'a ref suffix', repo: 'acme/api#main', rule: 'may only contain' },
    { name: 'non-ASCII', repo: 'acmé/api', rule: 'may only contain' },
  ];
  for (const c of rejected) {
    it(`rejects ${c.name}`, () => {
      rejectsWith(() => validateRepoName(c.repo), c.rule);
    });
  }
});

describe('parseTarget', () => {
  const parsed: { name: string; text: string; expected: ReturnType<typeof parseTarget> }[] = [
    { name: 'a bare repo has no ref', text: 'api', expected: { repo: 'api', ref: null, pr: null } },
    { name: 'repo#ref', text: 'api#main', expected: { repo: 'api', ref: 'main', pr: null } },
    { name: 'owner/repo#ref', text: 'acme/api#feature/x-1', expected: { repo: 'acme/api', ref: 'feature/x-1', pr: null } },
    { name: 'owner/repo#123 is a pull request', text: 'acme/api#123', expected: { repo: 'acme/api', ref: null, pr: 123 } },
    { name: 'surrounding whitespace is ignored', text: '  acme/api#main \n', expected: { repo: 'acme/api', ref: 'main', pr: null } },
    { name: 'a sha is a ref', text: `api#${'a'.repeat(40)}`, expected: { repo: 'api', ref: 'a'.repeat(40), pr: null } },
  ];
  for (const c of parsed) {
    it(c.name, () => {
      assert.deepEqual(parseTarget(c.text), c.expected);
    });
  }

  it('with allowPr false, digits are a branch name', () => {
    assert.deepEqual(parseTarget('acme/api#123', { allowPr: false }), { repo: 'acme/api', ref: '123', pr: null });
  });

  const rejected: { name: string; text: string; rule: string }[] = [
    { name: 'a Slack link', text: '<http://evil|main>', rule: 'links and mentions' },
    { name: 'a Slack link as the ref', text: 'api#<http://evil|main>', rule: 'links and mentions' },
    { name: 'a Slack link escaped as entities (unescaped first, then refused)', text: 'api#&lt;http://evil|main&gt;', rule: 'links and mentions' },
    { name: 'a user mention', text: 'api#<@U123>', rule: 'links and mentions' },
    { name: 'an escaped ampersand becomes a plain & and is refused as a metacharacter', text: 'api#a&amp;b', rule: 'shell metacharacters' },
    { name: 'double-escaped entities stay literal text, refused for the &', text: 'api#&amp;lt;x', rule: 'shell metacharacters' },
    { name: 'an empty ref', text: 'api#', rule: 'must not be empty' },
    { name: 'an empty repo', text: '#main', rule: 'must not be empty' },
    { name: 'a second #', text: 'api#main#x', rule: 'shell metacharacters' },
    { name: 'an option as the ref', text: 'api#--upload-pack=x', rule: 'must not start with -' },
    { name: 'an option as the repo', text: '--upload-pack=x#main', rule: 'may only contain' },
    { name: 'a pull request number with a leading zero', text: 'api#0123', rule: 'pull request number' },
    { name: 'pull request zero', text: 'api#0', rule: 'pull request number' },
    { name: 'an absurd pull request number', text: 'api#99999999999', rule: 'pull request number' },
    { name: 'two words', text: 'api main', rule: 'may only contain' },
  ];
  for (const c of rejected) {
    it(`rejects ${c.name}`, () => {
      rejectsWith(() => parseTarget(c.text), c.rule);
    });
  }

  it('property: whatever the text, the result is validated or a UserError is thrown', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (text) => {
        let target: ReturnType<typeof parseTarget>;
        try {
          target = parseTarget(text);
        } catch (err) {
          assert.ok(err instanceof UserError && err.code === 'bad_request');
          return;
        }

        assert.equal(validateRepoName(target.repo), target.repo);
        if (target.ref !== null) assert.equal(validateRefName(target.ref), target.ref);
        assert.ok(target.ref === null || target.pr === null);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('isSha', () => {
  const cases: { name: string; value: string; expected: boolean }[] = [
    { name: '40 lowercase hex', value: '0123456789abcdef0123456789abcdef01234567', expected: true },
    { name: '40 uppercase hex', value: '0123456789ABCDEF0123456789ABCDEF01234567', expected: true },
    { name: '39 hex', value: 'a'.repeat(39), expected: false },
    { name: '41 hex', value: 'a'.repeat(41), expected: false },
    { name: 'an abbreviated sha', value: 'abc1234', expected: false },
    { name: 'a non-hex letter', value: `${'a'.repeat(39)}g`, expected: false },
    { name: 'a trailing newline', value: `${'a'.repeat(40)}\n`, expected: false },
    { name: 'empty', value: '', expected: false },
  ];
  for (const c of cases) {
    it(`${c.expected ? 'accepts' : 'rejects'} ${c.name}`, () => {
      assert.equal(isSha(c.value), c.expected);
    });
  }
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UserError } from '../../src/errors.js';
import { parseSpec } from '../../src/spec/parse-spec.js';
import { formatSpecError } from '../../src/spec/spec-error.js';
import { compilePlan } from '../../src/spec/compile-plan.js';
import { checkCacheKey, globToRegExp, hashFiles, renderCacheKey, type CommitFile } from '../../src/cache/cache-key.js';
import { cacheScope } from '../../src/cache/cache-scope.js';
import { entryProblem } from '../../src/cache/cache-archive.js';

// Issue 15 part 2: the rules of `cache:` that need no engine: the spec's shape, key rendering,
// namespaces (no poisoning), and which archive entries a cache may hold.

function specWith(cache: string): string {
  return `version: 1\nimage: node:20\nstages:\n  test:\n    cache: ${cache}\n    steps:\n      - name: unit\n        run: npm test\n`;
}

function errors(cache: string): string[] {
  const result = parseSpec(specWith(cache));
  return result.ok ? [] : result.errors.map(formatSpecError);
}

describe('the cache: key in bosun.yml', () => {
  const accepted: [string, string][] = [
    ['a literal key and a workspace path', '{ key: deps-v1, paths: [.cache/pip] }'],
    ['hashFiles of one file, restore keys', `{ key: "pip-{{ hashFiles('requirements.txt') }}", paths: [.cache/pip, vendor/], restore-keys: [pip-] }`],
    ['a path under HOME', '{ key: k, paths: ["~/.cache/pip", .cache/other] }'],
    ['hashFiles of several globs', `{ key: "npm-{{ hashFiles('**/package-lock.json', 'tools/*.lock') }}-x", paths: [node_modules] }`],
  ];
  for (const [name, cache] of accepted) it(`accepts ${name}`, () => assert.deepEqual(errors(cache), []));

  const refused: [string, string, RegExp][] = [
    ['a key with a slash', '{ key: a/b, paths: [x] }', /cache\.key: expected a key of letters.*no `\/`/],
    ['a key with ..', '{ key: a..b, paths: [x] }', /a cache key cannot contain `\.\.`/],
    ['an expression other than hashFiles', '{ key: "x-{{ env.HOME }}", paths: [x] }', /no other expressions/],
    ['a hashFiles glob leaving the repository', '{ key: "x-{{ hashFiles(\'../secret\') }}", paths: [x] }', /cannot contain `\.\.`/],
    ["another user's home", '{ key: k, paths: ["~root/.cache"] }', /`~` only as `~\/path` \(the steps' HOME\), never another user's home/],
    ['HOME itself', '{ key: k, paths: ["~/"] }', /expected a path under HOME/],
    ['a ~ path climbing out', '{ key: k, paths: ["~/../../etc"] }', /`\.\.` would leave the workspace/],
    ['an absolute path', '{ key: k, paths: [/root/.cache] }', /relative to the workspace, not an absolute one/],
    ['a path escaping the workspace', '{ key: k, paths: [a/../../etc] }', /`\.\.` would leave the workspace/],
    ['the workspace itself', '{ key: k, paths: [.] }', /not `\.`, not under `\.git`/],
    ['a path in .git', '{ key: k, paths: [.git/hooks] }', /not under `\.git`/],
    ['a restore key with a slash', '{ key: k, paths: [x], restore-keys: [a/b] }', /expected a key prefix .*no `\/`/],
    ['an unknown field', '{ key: k, paths: [x], when: always }', /when/],
  ];
  for (const [name, cache, message] of refused) {
    it(`refuses ${name}`, () => {
      const found = errors(cache);
      assert.ok(
        found.some((e) => message.test(e)),
        found.join('\n'),
      );
    });
  }

  it('compiles into the stage plan with trailing slashes dropped', () => {
    const parsed = parseSpec(specWith(`{ key: "k-{{ hashFiles('a') }}", paths: [vendor/, .cache/pip], restore-keys: [k-] }`));
    assert.ok(parsed.ok);
    const plan = compilePlan(parsed.spec, { event: 'push', branch: 'master' }, 'bosun.yml');
    assert.deepEqual(plan.stages[0]?.cache, { key: "k-{{ hashFiles('a') }}", paths: ['vendor', '.cache/pip'], restoreKeys: ['k-'] });
  });
});

describe('cache keys', () => {
  const files: CommitFile[] = [
    { path: 'requirements.txt', blob: 'a1' },
    { path: 'sub/requirements.txt', blob: 'b2' },
    { path: 'sub/deep/x.lock', blob: 'c3' },
    { path: 'README.md', blob: 'd4' },
  ];
  const list = { list: async () => files };

  it("hashFiles depends on the matched files' paths and contents only, in any order", () => {
    const one = hashFiles(files, ['requirements.txt']);
    assert.equal(one.count, 1);
    assert.equal(hashFiles([...files].reverse(), ['requirements.txt']).hash, one.hash);
    assert.notEqual(hashFiles([{ path: 'requirements.txt', blob: 'changed' }], ['requirements.txt']).hash, one.hash);
    assert.equal(hashFiles(files, ['**/requirements.txt']).count, 2);
    assert.equal(hashFiles(files, ['**/*.lock', 'README.md']).count, 2);
    assert.equal(hashFiles(files, ['sub/*.txt']).count, 1);
  });

  it('globs: * stays in a segment, ** crosses them, ? is one character', () => {
    const table: [string, string, boolean][] = [
      ['*.txt', 'requirements.txt', true],
      ['*.txt', 'sub/requirements.txt', false],
      ['**/*.txt', 'sub/requirements.txt', true],
      ['**/*.txt', 'requirements.txt', true],
      ['sub/**', 'sub/deep/x.lock', true],
      ['re?uirements.txt', 'requirements.txt', true],
      ['a.b', 'axb', false],
    ];
    for (const [glob, path, matches] of table) assert.equal(globToRegExp(glob).test(path), matches, `${glob} vs ${path}`);
    assert.throws(() => globToRegExp('/etc/passwd'), /relative to the repository root/);
    assert.throws(() => globToRegExp('a/../../b'), /would leave the repository/);
  });

  it('renders the template, and says when hashFiles matched nothing', async () => {
    const { key, notes } = await renderCacheKey("pip-{{ hashFiles('requirements.txt') }}-v1", list);
    assert.match(key, /^pip-[0-9a-f]{32}-v1$/);
    assert.deepEqual(notes, []);
    const none = await renderCacheKey("x-{{ hashFiles('nothing.lock') }}", list);
    assert.match(none.notes[0] ?? '', /hashFiles\('nothing\.lock'\) matched no file in the commit/);
  });

  it('refuses keys that cannot name one file: slashes, .., too long, other characters', () => {
    const table: [string, RegExp][] = [
      ['a/b', /contains a slash/],
      ['..', /contains `\.\.`/],
      ['x'.repeat(201), /201 characters long; at most 200/],
      ['a b', /characters other than/],
      ['', /is empty/],
    ];
    for (const [key, message] of table)
      assert.throws(
        () => checkCacheKey(key),
        (err: unknown) => err instanceof UserError && message.test(err.message),
        key,
      );
    checkCacheKey('pip-0123.abc_+x');
  });
});

describe('cache namespaces (no cache poisoning)', () => {
  const actor = { id: 'github:1', name: 'a' };
  const table: { name: string; ref: string; trigger: Parameters<typeof cacheScope>[0]['trigger']; write: RegExp; read: RegExp[] }[] = [
    {
      name: 'a push to the default branch reads and writes its own trusted namespace',
      ref: 'master',
      trigger: { event: 'push', source: 'github', actor },
      write: /^trusted\/branch-master-/,
      read: [/^trusted\/branch-master-/],
    },
    {
      name: 'a feature branch also reads the default branch',
      ref: 'feature/x',
      trigger: { event: 'push', source: 'github', actor },
      write: /^trusted\/branch-feature_x-/,
      read: [/^trusted\/branch-feature_x-/, /^trusted\/branch-master-/],
    },
    {
      name: 'a trusted pull request writes its own namespace and reads its base branch',
      ref: 'feature/x',
      trigger: { event: 'pull_request', source: 'github', actor, pullRequest: 4, baseRef: 'release' },
      write: /^trusted\/pr-4$/,
      read: [/^trusted\/pr-4$/, /^trusted\/branch-release-/],
    },
    {
      name: 'a fork pull request writes only the untrusted namespace and reads the base branch',
      ref: 'pull/7/head',
      trigger: { event: 'pull_request', source: 'github', actor, pullRequest: 7, untrusted: true },
      write: /^untrusted\/pr-7$/,
      read: [/^untrusted\/pr-7$/, /^trusted\/branch-master-/],
    },
    {
      name: 'a pull request ref built by hand counts as untrusted',
      ref: 'pull/7/head',
      trigger: { event: 'manual', source: 'cli', actor },
      write: /^untrusted\/branch-pull_7_head-/,
      read: [/^untrusted\//, /^trusted\/branch-master-/],
    },
  ];
  for (const c of table) {
    it(c.name, () => {
      const scope = cacheScope({ ref: c.ref, trigger: c.trigger }, 'master');
      assert.match(scope.write, c.write);
      assert.equal(scope.read.length, c.read.length, scope.read.join(', '));
      c.read.forEach((re, i) => assert.match(scope.read[i] ?? '', re));
    });
  }

  it('no trusted build ever reads an untrusted namespace', () => {
    for (const trigger of [{ event: 'push' as const }, { event: 'pull_request' as const, pullRequest: 7 }, { event: 'manual' as const }]) {
      for (const ref of ['master', 'feature/x', 'pull-7']) {
        const scope = cacheScope({ ref, trigger: { ...trigger, source: 'github', actor } }, 'master');
        assert.ok(
          scope.read.every((ns) => ns.startsWith('trusted/')),
          scope.read.join(', '),
        );
      }
    }
  });

  it('two refs never share a namespace, whatever their characters', () => {
    const a = cacheScope({ ref: 'a/b', trigger: { event: 'push', source: 'cli', actor } }, 'master').write;
    const b = cacheScope({ ref: 'a_b', trigger: { event: 'push', source: 'cli', actor } }, 'master').write;
    assert.notEqual(a, b);
  });
});

describe('what a cache archive may hold', () => {
  const paths = ['.cache/pip', 'vendor'];
  const table: {
    name: string;
    header: { name: string; type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo' | 'character-device'; linkname?: string };
    problem?: RegExp;
  }[] = [
    { name: 'a file inside a path', header: { name: '.cache/pip/http/a', type: 'file' } },
    { name: 'a directory above a path', header: { name: '.cache/', type: 'directory' } },
    { name: 'a symlink inside the workspace', header: { name: 'vendor/bin/tool', type: 'symlink', linkname: '../lib/tool.js' } },
    { name: 'a hard link to another entry of the cache', header: { name: 'vendor/b', type: 'link', linkname: 'vendor/a' } },
    { name: 'a file outside the paths', header: { name: 'src/main.py', type: 'file' }, problem: /outside the cache's paths/ },
    { name: 'a file above a path (only directories may be)', header: { name: '.cache', type: 'file' }, problem: /outside the cache's paths/ },
    { name: 'an absolute name', header: { name: '/etc/passwd', type: 'file' }, problem: /not a path inside the workspace/ },
    { name: 'a name climbing out', header: { name: 'vendor/../../etc/passwd', type: 'file' }, problem: /not a path inside the workspace/ },
    {
      name: 'a symlink to an absolute path',
      header: { name: 'vendor/passwd', type: 'symlink', linkname: '/etc/passwd' },
      problem: /symlink to \/etc\/passwd, outside the workspace/,
    },
    {
      name: 'a symlink climbing out of the workspace',
      header: { name: 'vendor/x', type: 'symlink', linkname: '../../../etc' },
      problem: /outside the workspace/,
    },
    { name: 'a hard link outside the paths', header: { name: 'vendor/x', type: 'link', linkname: 'bosun.yml' }, problem: /hard link to bosun\.yml/ },
    { name: 'a FIFO', header: { name: 'vendor/pipe', type: 'fifo' }, problem: /is a fifo; caches hold only files, directories and links/ },
    { name: 'a device', header: { name: 'vendor/null', type: 'character-device' }, problem: /character-device/ },
  ];
  for (const c of table) {
    it(`${c.problem ? 'refuses' : 'keeps'} ${c.name}`, () => {
      const problem = entryProblem(c.header, paths);
      if (c.problem) assert.match(problem ?? '', c.problem);
      else assert.equal(problem, undefined);
    });
  }
});

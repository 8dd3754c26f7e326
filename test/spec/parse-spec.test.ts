import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { UserError } from '../../src/errors.js';
import { MAX_SPEC_BYTES, parseSpec, type ParseResult } from '../../src/spec/parse-spec.js';
import { formatPath, formatSpecError, SpecInvalidError, summarizeSpecErrors, type SpecError } from '../../src/spec/spec-error.js';

const MINIMAL = 'version: 1\nimage: node:20\nstages:\n  test:\n    steps:\n      - name: unit\n        run: npm test\n';

function errorsOf(result: ParseResult): string[] {
  return result.ok ? [] : result.errors.map(formatSpecError);
}

function firstError(text: string | Buffer): string {
  const [first] = errorsOf(parseSpec(text));
  assert.ok(first, 'expected the spec to be rejected');
  return first;
}

describe('parseSpec', () => {
  it('returns the typed spec for a valid file', () => {
    const result = parseSpec(MINIMAL);

    assert.deepEqual(result, {
      ok: true,
      spec: { version: 1, image: 'node:20', stages: { test: { steps: [{ name: 'unit', run: 'npm test' }] } } },
    });
  });

  it('accepts a Buffer as well as a string', () => {
    assert.equal(parseSpec(Buffer.from(MINIMAL)).ok, true);
  });

  it('names the file it was given in every error', () => {
    const text = 'version: 2\nstages: { a: { labels: [x] } }\n';

    assert.equal(firstError(Buffer.from(text)), 'bosun.yml:1:10 version: expected `version: 1`');
    assert.deepEqual(errorsOf(parseSpec(text, '.bosun.yml')), ['.bosun.yml:1:10 version: expected `version: 1`']);
  });

  const positions: { name: string; text: string; error: string }[] = [
    {
      name: 'a wrong type names the path, line and column of the key holding it',
      text: 'version: 1\nimage: node:20\nstages:\n  test:\n    steps:\n      - name: a\n        run: x\n      - name: b\n        run: x\n      - name: c\n        run: x\n        image:\n          - node:20\n',
      error: 'bosun.yml:12:9 stages.test.steps[2].image: expected a string',
    },
    {
      name: 'a wrong scalar type points at the value',
      text: 'version: 1\nstages:\n  test:\n    steps:\n      - name: a\n        image: 3\n        run: x\n',
      error: 'bosun.yml:6:16 stages.test.steps[0].image: expected a string',
    },
    {
      name: 'an unknown key points at the key itself',
      text: 'version: 1\nimage: a\nstages:\n  test:\n    steps: [{ name: a, run: x, colour: blue }]\n',
      error: 'bosun.yml:5:32 stages.test.steps[0].colour: unknown key `colour`',
    },
    {
      name: 'a missing key points at the map that lacks it',
      text: 'version: 1\nimage: a\nstages:\n  test:\n    steps:\n      - name: a\n',
      error: 'bosun.yml:6:9 stages.test.steps[0]: missing required key `run`',
    },
    {
      name: 'a wrong item in a command list names its index',
      text: 'version: 1\nimage: a\nstages:\n  test:\n    steps: [{ name: a, run: [ok, 42] }]\n',
      error: 'bosun.yml:5:34 stages.test.steps[0].run[1]: expected a string',
    },
    {
      name: 'a bad duration explains the format',
      text: 'version: 1\nimage: a\nstages:\n  test:\n    steps: [{ name: a, run: x, timeout: soon }]\n',
      error: 'bosun.yml:5:41 stages.test.steps[0].timeout: expected a duration like 30s, 10m, 4h or 1h30m (at most 30d)',
    },
    {
      name: 'a duplicate key names its line and the first one',
      text: 'version: 1\nimage: a\nimage: b\nstages: {}\n',
      error: 'bosun.yml:3:1 duplicate key `image` (first at line 2)',
    },
    {
      name: 'a second YAML document is refused at its line',
      text: `${MINIMAL}---\nversion: 1\n`,
      error: 'bosun.yml:8:1 only one YAML document is allowed; a second one starts here',
    },
  ];
  for (const c of positions) {
    it(c.name, () => {
      assert.equal(firstError(c.text), c.error);
    });
  }

  const privileges: { key: string; yaml: string }[] = [
    { key: 'privileged', yaml: 'privileged: true' },
    { key: 'volumes', yaml: 'volumes: [/var/run/docker.sock:/var/run/docker.sock]' },
    { key: 'mounts', yaml: 'mounts: [{ source: /, target: /host }]' },
    { key: 'networks', yaml: 'networks: [host]' },
    { key: 'network_mode', yaml: 'network_mode: host' },
    { key: 'cap_add', yaml: 'cap_add: [SYS_ADMIN]' },
    { key: 'devices', yaml: 'devices: [/dev/kvm]' },
    { key: 'user', yaml: 'user: root' },
  ];
  for (const p of privileges) {
    it(`refuses \`${p.key}\` on a step with the R8 message and its line (R8)`, () => {
      const text = `version: 1\nimage: a\nstages:\n  test:\n    steps:\n      - name: a\n        run: x\n        ${p.yaml}\n`;

      assert.equal(
        firstError(text),
        `bosun.yml:8:9 stages.test.steps[0].${p.key}: ${p.key} is not allowed in bosun.yml: privileges, mounts and networks come from server config`,
      );
    });
  }

  it('refuses privilege keys on a stage and at the top level too (R8)', () => {
    const text = 'version: 1\nimage: a\nsecrets: [X]\nstages:\n  test:\n    privileged: true\n    steps: [{ name: a, run: x }]\n';

    assert.deepEqual(errorsOf(parseSpec(text)), [
      'bosun.yml:3:1 secrets: `secrets` goes on a stage or a step (`secrets: [NAME]`); server config decides which ones a repository may use',
      'bosun.yml:6:5 stages.test.privileged: privileged is not allowed in bosun.yml: privileges, mounts and networks come from server config',
    ]);
  });

  it('refuses a secret server config does not grant the repository, at its line; granted ones pass (R8)', () => {
    const text =
      'version: 1\nimage: a\nstages:\n  deploy:\n    secrets: [PROD_KEY]\n    steps:\n      - name: a\n        run: x\n        secrets: [PYPI_TOKEN, { name: SIGNING_KEY, env: KEY }]\n';
    const grants = (granted: string[]) => ({ secrets: { granted, repo: 'acme/api' } });

    assert.deepEqual(errorsOf(parseSpec(text, 'bosun.yml', grants(['PYPI_TOKEN']))), [
      'bosun.yml:5:15 stages.deploy.secrets[0]: secret `PROD_KEY` is not granted to this repository (server config repos.acme/api.secrets does not list it)',
      'bosun.yml:9:39 stages.deploy.steps[0].secrets[1].name: secret `SIGNING_KEY` is not granted to this repository (server config repos.acme/api.secrets does not list it)',
    ]);
    assert.equal(parseSpec(text, 'bosun.yml', grants(['PYPI_TOKEN', 'PROD_KEY', 'SIGNING_KEY'])).ok, true);
    assert.equal(parseSpec(text).ok, true, 'without grants (no repository in sight) names are not checked');
  });

  it('lists an ungranted secret beside the schema errors, in file order', () => {
    const text = 'version: 1\nimage: a\nstages:\n  deploy:\n    secrets: [PROD_KEY]\n    deploy: production\n    steps: [{ name: a, run: x }]\n';

    assert.deepEqual(
      errorsOf(parseSpec(text, 'bosun.yml', { secrets: { granted: [] } })).map((e) => e.replace(/(not supported yet|not granted to this repository).*$/, '$1')),
      ['bosun.yml:5:15 stages.deploy.secrets[0]: secret `PROD_KEY` is not granted to this repository', 'bosun.yml:6:5 stages.deploy.deploy: not supported yet'],
    );
  });

  it('refuses deploy as not supported yet, wherever it is, with every other problem', () => {
    const text =
      'version: 1\nimage: a\nstages:\n  ship:\n    deploy: production\n    publish: [{ docker: { image: x } }]\n    steps:\n      - name: a\n        run: x\n        deploy: prod\n';

    assert.deepEqual(
      errorsOf(parseSpec(text)).map((e) => e.replace(/: (not supported yet|expected an image repository with its registry).*$/, ': $1')),
      [
        'bosun.yml:5:5 stages.ship.deploy: not supported yet',
        'bosun.yml:6:34 stages.ship.publish[0].docker.image: expected an image repository with its registry',
        'bosun.yml:10:9 stages.ship.steps[0].deploy: not supported yet',
      ],
    );
  });

  it('reads publish: docker images and Python distributions, with their defaults in the plan', () => {
    const text =
      'version: 1\nimage: a\nstages:\n  ship:\n    steps: [{ name: a, run: x }]\n    publish:\n      - docker: { image: 127.0.0.1:5000/acme/api, context: app, dockerfile: build/Dockerfile }\n      - pypi: { repository: internal }\n';
    const result = parseSpec(text);
    assert.ok(result.ok, JSON.stringify(result));
  });

  it('refuses a publish entry that is neither docker nor pypi, and unknown keys in one', () => {
    const text =
      'version: 1\nimage: a\nstages:\n  ship:\n    steps: [{ name: a, run: x }]\n    publish:\n      - npm: { registry: x }\n      - docker: { image: registry.example/a, buildArgs: { A: b } }\n';
    const errors = errorsOf(parseSpec(text));
    assert.equal(errors.length, 2, errors.join('\n'));
    assert.match(errors[0] ?? '', /^bosun\.yml:7:9 stages\.ship\.publish\[0\]/);
    assert.match(errors[1] ?? '', /^bosun\.yml:8:46 stages\.ship\.publish\[1\]\.docker\.buildArgs: unknown key/);
  });

  it('lists several problems in file order', () => {
    const text = 'version: 1\nstages:\n  test:\n    needs: [nope]\n    steps: [{ name: a, run: x }]\n';

    assert.deepEqual(errorsOf(parseSpec(text)), [
      'bosun.yml:4:13 stages.test.needs[0]: unknown stage `nope`',
      'bosun.yml:5:13 stages.test.steps[0]: no image: set `image` on the step or at the top level',
    ]);
  });
});

describe('parseSpec hardening (R26)', () => {
  it('refuses a 300 KiB file by its size, before parsing it', () => {
    // Invalid YAML after the padding: a parse would report that instead of the size.
    const tail = '\n[[[ not even yaml';
    const text = `version: 1\n#${'x'.repeat(300 * 1024 - 12 - tail.length)}${tail}`;
    assert.equal(Buffer.byteLength(text), 300 * 1024);

    assert.equal(firstError(text), 'bosun.yml:1:1 bosun.yml is 300 KiB; the limit is 256 KiB');
  });

  it('accepts a file of exactly the limit', () => {
    const padding = '#'.repeat(MAX_SPEC_BYTES - MINIMAL.length - 1);
    const text = `${MINIMAL}${padding}\n`;

    assert.equal(Buffer.byteLength(text), MAX_SPEC_BYTES);
    assert.equal(parseSpec(text).ok, true);
  });

  it('rejects billion laughs by the alias cap without growing the heap by 50 MB', () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 10; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const text = `version: 1\n${levels.join('\n')}\n`;
    const before = process.memoryUsage().heapUsed;

    const error = firstError(text);

    const grownMb = (process.memoryUsage().heapUsed - before) / 1024 / 1024;
    assert.match(error, /aliases expand too much \(more than 50 alias uses\)/);
    assert.ok(grownMb < 50, `heap grew ${grownMb.toFixed(1)} MB`);
  });

  it('gives 5,000 nested [ a clean error, repeatedly, and the process stays healthy', () => {
    // Three in a row: repeated stack overflows inside yaml used to kill Node 20 outright.
    for (let i = 0; i < 3; i++) {
      assert.equal(firstError('['.repeat(5000)), 'bosun.yml:1:65 nesting is deeper than 64 levels; a build spec never needs that');
    }

    assert.equal(parseSpec(MINIMAL).ok, true);
    assert.equal(new RegExp(`^fresh-${Date.now()}(a|b)+$`).test('x'), false);
  });

  it('gives deep block nesting (- - - …) a clean error', () => {
    assert.match(firstError(`${'- '.repeat(30000)}x\n`), /nesting is deeper than 64 levels/);
  });

  it('refuses text that is not UTF-8', () => {
    assert.equal(firstError(Buffer.from([0x76, 0x3a, 0x20, 0xff, 0xfe])), 'bosun.yml:1:1 bosun.yml is not valid UTF-8 text');
  });

  it('refuses an empty file with a hint of what is needed', () => {
    assert.equal(firstError(''), 'bosun.yml:1:1 bosun.yml is empty; it needs at least `version: 1` and `stages:`');
  });

  it('never throws, and every error has a line and column ≥ 1, for any string', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 }), yamlish()), (text) => {
        assertWellFormed(parseSpec(text));
      }),
      { numRuns: 500 },
    );
  });

  it('never throws for any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        assertWellFormed(parseSpec(Buffer.from(bytes)));
      }),
      { numRuns: 300 },
    );
  });

  it('never throws for mutations of a valid spec', () => {
    fc.assert(
      fc.property(fc.nat(MINIMAL.length), fc.string({ maxLength: 8 }), fc.nat(4), (at, insert, cut) => {
        assertWellFormed(parseSpec(MINIMAL.slice(0, at) + insert + MINIMAL.slice(at + cut)));
      }),
      { numRuns: 500 },
    );
  });
});

/** Strings built from YAML's own punctuation, which reach far more parser paths than random text. */
function yamlish(): fc.Arbitrary<string> {
  const pieces = [
    'version: 1\n',
    'stages:\n',
    '  ',
    '- ',
    ': ',
    '[',
    ']',
    '{',
    '}',
    ',',
    '&a ',
    '*a',
    '!!str ',
    '? ',
    '|\n',
    '>\n',
    '"',
    "'",
    '#',
    '---\n',
    '...\n',
    '\n',
    'x',
    'steps',
    'run',
    'image',
    '<<: ',
    '%YAML 1.2\n',
    '\t',
  ];
  return fc.array(fc.constantFrom(...pieces), { maxLength: 60 }).map((p) => p.join(''));
}

function assertWellFormed(result: ParseResult): void {
  if (result.ok) return;
  assert.ok(result.errors.length > 0);
  for (const e of result.errors) {
    assert.ok(Number.isInteger(e.line) && e.line >= 1, `line ${e.line}`);
    assert.ok(Number.isInteger(e.col) && e.col >= 1, `col ${e.col}`);
    assert.equal(typeof e.message, 'string');
  }
}

describe('regression corpus (test/spec/corpus): ok-* parse, bad-* fail cleanly', () => {
  const dir = fileURLToPath(new URL('./corpus/', import.meta.url));
  for (const name of readdirSync(dir).sort()) {
    it(name, () => {
      const result = parseSpec(readFileSync(`${dir}${name}`));

      assertWellFormed(result);
      assert.equal(result.ok, name.startsWith('ok-'), errorsOf(result).join('\n'));
    });
  }
});

describe('formatting', () => {
  it('writes paths with dots for keys and [n] for indices', () => {
    assert.equal(formatPath(['stages', 'test', 'steps', 2, 'image']), 'stages.test.steps[2].image');
    assert.equal(formatPath([]), '');
    assert.equal(formatPath([0, 'a']), '[0].a');
  });

  it('SpecInvalidError is a spec_invalid UserError whose message lists every error, one per line', () => {
    const errors: SpecError[] = [
      { file: 'bosun.yml', line: 3, col: 5, path: 'stages.x', message: 'first' },
      { file: 'bosun.yml', line: 9, col: 1, path: '', message: 'second' },
      { file: 'bosun.yml', line: 9, col: 2, path: '', message: 'third' },
    ];

    const err = new SpecInvalidError(errors);

    assert.ok(err instanceof UserError);
    assert.equal(err.code, 'spec_invalid');
    assert.equal(err.retryable, false);
    assert.equal(err.message, '3 problems in the build spec:\nbosun.yml:3:5 stages.x: first\nbosun.yml:9:1 second\nbosun.yml:9:2 third');
    assert.deepEqual(err.errors, errors);
    assert.deepEqual(err.lines, ['bosun.yml:3:5 stages.x: first', 'bosun.yml:9:1 second', 'bosun.yml:9:2 third']);
    assert.equal(new SpecInvalidError(errors.slice(0, 1)).message, 'bosun.yml:3:5 stages.x: first');
  });

  it('a status-sized summary is the count and the first error, cut to 140 characters', () => {
    const long = `bosun.yml:3:5 stages.x: ${'y'.repeat(200)}`;

    assert.equal(
      summarizeSpecErrors(['bosun.yml:3:5 stages.x: first', 'bosun.yml:9:1 second']),
      '2 problems in the build spec; first: bosun.yml:3:5 stages.x: first',
    );
    assert.equal(summarizeSpecErrors(['bosun.yml:3:5 stages.x: first']), 'bosun.yml:3:5 stages.x: first');
    assert.equal(summarizeSpecErrors([long, long]).length, 140);
    assert.ok(summarizeSpecErrors([long, long]).endsWith('…'));
  });
});

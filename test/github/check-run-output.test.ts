import { test } from 'node:test';
import assert from 'node:assert/strict';
import { annotationBatches, annotationsFromOutput, annotationsFromTests, repoPath, renderTests, type Annotation } from '../../src/github/check-run-output.js';

const at = (a: Annotation[]) => a.map((x) => `${x.path}:${x.start_line}${x.start_column ? `:${x.start_column}` : ''} ${x.annotation_level} ${x.message}`);

for (const [name, lines, expected] of [
  [
    'tsc: file(line,col): error TS…',
    ['src/a.ts(3,5): error TS2322: Type number is not assignable to type string.'],
    ['src/a.ts:3:5 failure TS2322: Type number is not assignable to type string.'],
  ],
  [
    'go vet: ./file:line:col: message',
    ['# example.com/x', './cmd/main.go:7:2: fmt.Printf format %d has arg name of wrong type string'],
    ['cmd/main.go:7:2 failure fmt.Printf format %d has arg name of wrong type string'],
  ],
  ['pytest: file:line: Exception', ['tests/test_x.py:12: AssertionError'], ['tests/test_x.py:12 failure AssertionError']],
  [
    'a Python traceback: the innermost frame in the repository, with the exception as message',
    [
      'Traceback (most recent call last):',
      '  File "/workspace/app/main.py", line 3, in <module>',
      '  File "/workspace/app/x.py", line 12, in f',
      '  File "/usr/lib/python3.11/json/__init__.py", line 346, in loads',
      'ValueError: bad input',
    ],
    ['app/x.py:12 failure ValueError: bad input'],
  ],
  [
    'paths outside the repository are not annotated',
    ['/usr/lib/go/src/fmt/print.go:10:1: x', '../other/a.go:1:1: y', 'node_modules/x/a.ts(1,1): error TS1: z'],
    [],
  ],
  ['shell echoes of the command are not output', ["+ echo 'src/a.ts(3,5): error TS2322: x'"], []],
  ['ANSI colours are stripped', ['\u001b[31msrc/b.ts(1,2): error TS1005: ; expected\u001b[0m'], ['src/b.ts:1:2 failure TS1005: ; expected']],
  ['warnings stay warnings', ['src/c.ts(4,1): warning TS6133: unused'], ['src/c.ts:4:1 warning TS6133: unused']],
  ['a URL with a port is not a file', ['GET http://localhost:8080: connection refused'], []],
] as const) {
  test(`annotations: ${name}`, () => assert.deepEqual(at(annotationsFromOutput(lines)), expected));
}

test('one annotation per place and message, at most 150 per check run', () => {
  const lines = Array.from({ length: 400 }, (_, i) => `src/a.ts(${i + 1},1): error TS2322: x`);
  assert.equal(annotationsFromOutput([...lines, ...lines]).length, 150);
});

test('annotations go to GitHub 50 per request', () => {
  const list = annotationsFromOutput(Array.from({ length: 120 }, (_, i) => `src/a.ts(${i + 1},1): error TS2322: x`));
  assert.deepEqual(
    annotationBatches(list).map((b) => b.length),
    [50, 50, 20],
  );
});

test('repository paths: ./ and /workspace/ dropped, outside paths refused', () => {
  assert.equal(repoPath('./a/b.go'), 'a/b.go');
  assert.equal(repoPath('/workspace/src/x.py'), 'src/x.py');
  assert.equal(repoPath('/etc/passwd'), undefined);
  assert.equal(repoPath('a/../../b'), undefined);
});

test('failing tests with a file and line become annotations, and the summary lists them', () => {
  const tests = {
    total: 10,
    failed: 2,
    errors: 1,
    skipped: 1,
    files: ['junit.xml'],
    failures: [
      { name: 'tests.test_x.test_add', message: 'assert 1 == 2', file: 'tests/test_x.py', line: 7 },
      { name: 'tests.test_y.test_io', message: 'OSError' },
    ],
  };
  assert.deepEqual(at(annotationsFromTests(tests)), ['tests/test_x.py:7 failure assert 1 == 2']);
  const md = renderTests(tests);
  assert.match(md, /10 run, 2 failed, 1 errors, 1 skipped/);
  assert.match(md, /`tests\.test_x\.test_add` \(tests\/test_x\.py:7\): assert 1 == 2/);
  assert.match(md, /… and 1 more/);
});

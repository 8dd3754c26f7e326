import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GlobSet } from '../../src/artifacts/glob-match.js';

const cases: [string, string, boolean][] = [
  ['dist/**', 'dist/app.whl', true],
  ['dist/**', 'dist/a/b/c.txt', true],
  ['dist/**', 'distx/app.whl', false],
  ['reports/*.xml', 'reports/junit.xml', true],
  ['reports/*.xml', 'reports/sub/junit.xml', false],
  ['**/*.xml', 'a/b/junit.xml', true],
  ['**/*.xml', 'junit.xml', true],
  ['out', 'out/f1.bin', true],
  ['a?c.txt', 'abc.txt', true],
  ['a?c.txt', 'abbc.txt', false],
  ['*.txt', '.hidden.txt', true],
  ['**', '.git/config', false],
  ['dist/*.whl', 'dist/app.whl.sig', false],
  ['dist/(x).whl', 'dist/(x).whl', true],
];
for (const [glob, path, expected] of cases) {
  test(`${glob} ${expected ? 'matches' : 'does not match'} ${path}`, () => assert.equal(new GlobSet([glob]).matches(path), expected));
}

test('only directories that may hold a match are walked', () => {
  const g = new GlobSet(['dist/**', 'reports/*.xml']);
  assert.equal(g.mayContain('dist'), true);
  assert.equal(g.mayContain('dist/sub/deeper'), true);
  assert.equal(g.mayContain('reports'), true);
  assert.equal(g.mayContain('reports/sub'), false);
  assert.equal(g.mayContain('node_modules'), false);
  assert.equal(g.mayContain('.git'), false);
});

// Every documented example is a test case: valid ones parse, invalid ones fail with exactly
// the errors written in their leading `# expect:` comments.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseSpec } from '../../src/spec/parse-spec.js';
import { formatSpecError } from '../../src/spec/spec-error.js';

const examples = fileURLToPath(new URL('../../spec-schema/examples/', import.meta.url));

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort();
}

describe('valid examples parse', () => {
  for (const name of yamlFiles(`${examples}valid`)) {
    it(name, () => {
      const result = parseSpec(readFileSync(`${examples}valid/${name}`), 'bosun.yml');

      assert.deepEqual(result.ok ? [] : result.errors.map(formatSpecError), []);
    });
  }
});

describe('invalid examples fail with the error on their first lines', () => {
  for (const name of yamlFiles(`${examples}invalid`)) {
    it(name, () => {
      const text = readFileSync(`${examples}invalid/${name}`, 'utf8');
      const expected = text
        .split('\n')
        .filter((l) => l.startsWith('# expect: '))
        .map((l) => l.slice('# expect: '.length));
      assert.ok(expected.length > 0, `${name} needs a "# expect: L:C path: message" line`);

      const result = parseSpec(text, 'bosun.yml');

      assert.equal(result.ok, false);
      const actual = result.ok ? [] : result.errors.map((e) => formatSpecError(e).replace(/^bosun\.yml:/, ''));
      assert.deepEqual(actual, expected);
    });
  }
});

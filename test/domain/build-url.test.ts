import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildUrl } from '../../src/domain/build-url.js';

describe('the one link to a build page', () => {
  const cases: Array<[string, string | undefined, string, string | undefined]> = [
    ['no public URL: no link', undefined, '42', undefined],
    ['an empty public URL: no link', '', '42', undefined],
    ['a public URL: <url>/builds/<id>', 'https://ci.example.test', '42', 'https://ci.example.test/builds/42'],
    ['a trailing slash is ignored', 'https://ci.example.test/', '42', 'https://ci.example.test/builds/42'],
    ['a path prefix is kept', 'https://example.test/bosun/', '7', 'https://example.test/bosun/builds/7'],
    ['the id is encoded', 'http://127.0.0.1:8080', 'a/b c', 'http://127.0.0.1:8080/builds/a%2Fb%20c'],
  ];
  for (const [name, publicUrl, id, want] of cases) {
    it(name, () => assert.equal(buildUrl(publicUrl, id), want));
  }
});

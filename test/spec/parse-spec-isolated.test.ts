import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseSpec } from '../../src/spec/parse-spec.js';
import { parseSpecIsolated } from '../../src/spec/parse-spec-isolated.js';

const examples = fileURLToPath(new URL('../../spec-schema/examples/', import.meta.url));

describe('parseSpecIsolated (worker thread, R26)', () => {
  const inputs = ['valid/three-stage-pipeline.yaml', 'invalid/wrong-type-image.yaml', 'invalid/billion-laughs.yaml', 'invalid/deep-nesting.yaml'];
  for (const input of inputs) {
    it(`returns what parseSpec returns for ${input}`, async () => {
      const text = readFileSync(`${examples}${input}`);

      assert.deepEqual(await parseSpecIsolated(text, 'bosun.yml'), parseSpec(text, 'bosun.yml'));
    });
  }

  it('reports a 240 KiB nesting bomb where it nests too deep, not as running out of memory at 1:1', async () => {
    const result = await parseSpecIsolated(`${'- '.repeat(120_000)}x\n`, 'bosun.yml', { timeoutMs: 10_000 });

    assert.deepEqual(result, {
      ok: false,
      errors: [{ file: 'bosun.yml', line: 1, col: 129, path: '', message: 'nesting is deeper than 64 levels; a build spec never needs that' }],
    });
  });

  it('reports a timeout as a clean spec error', async () => {
    const result = await parseSpecIsolated('version: 1\n', '.bosun.yml', { timeoutMs: 0 });

    assert.deepEqual(result, {
      ok: false,
      errors: [{ file: '.bosun.yml', line: 1, col: 1, path: '', message: '.bosun.yml took longer than 0 ms to parse' }],
    });
  });

  it('parses a 200 KB spec within the default heap ceiling', async () => {
    const text = readFileSync(fileURLToPath(new URL('./corpus/ok-long-command.yaml', import.meta.url)));

    assert.equal((await parseSpecIsolated(text)).ok, true);
  });

  it('reports running out of its heap ceiling as a clean spec error, and this process carries on', async () => {
    const result = await parseSpecIsolated('version: 1\n', 'bosun.yml', { maxHeapMb: 2, timeoutMs: 5000 });

    assert.deepEqual(result, {
      ok: false,
      errors: [{ file: 'bosun.yml', line: 1, col: 1, path: '', message: 'bosun.yml needed too much memory to parse' }],
    });
  });

  it('refuses an oversized text without starting a worker', async () => {
    const result = await parseSpecIsolated('#'.repeat(300 * 1024));

    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : (result.errors[0]?.message ?? ''), /is 300 KiB; the limit is 256 KiB/);
  });
});

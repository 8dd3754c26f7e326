import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { it } from 'node:test';
import { Redactor } from '../../src/logs/redactor.js';

function streamLog(redactor: Redactor, bytes: Buffer): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 4096) out += redactor.write(bytes.subarray(i, i + 4096));
  return out + redactor.flush();
}

// A loose gate, not a benchmark: it catches an accidental O(text · secrets) scan or a
// quadratic buffer, which would take tens of seconds here. The measured rate is printed as a
// test diagnostic (`node --import tsx --test test/logs/redactor-throughput.test.ts`).
it('redacts a 100,000-line log with 20 secrets in 4 KiB writes within 5 s', (t) => {
  const secrets: Record<string, string> = {};
  for (let i = 0; i < 20; i++) secrets[`S${i}`] = randomBytes(24).toString('base64url');
  const values = Object.values(secrets);
  const lines: string[] = [];
  for (let i = 0; i < 100_000; i++) {
    const leak = i % 1000 === 0 ? ` token=${values[i % values.length]}` : '';
    lines.push(`2026-11-28T17:00:00Z step ${i % 7} npm info lifecycle build: installing dependency ${i}${leak}\n`);
  }
  const bytes = Buffer.from(lines.join(''));
  const redactor = new Redactor(secrets);
  const cold = performance.now();
  streamLog(redactor, bytes);
  const coldMs = performance.now() - cold;

  const warm = performance.now();
  const out = streamLog(redactor, bytes);
  const warmMs = performance.now() - warm;

  t.diagnostic(
    `${(bytes.length / 1e6).toFixed(1)} MB: cold ${coldMs.toFixed(0)} ms, warm ${warmMs.toFixed(0)} ms = ${(bytes.length / 1e3 / warmMs).toFixed(0)} MB/s`,
  );
  assert.ok(coldMs < 5000);
  assert.equal(out.split('[REDACTED]').length - 1, 100);
  for (const value of values) assert.ok(!out.includes(value));
});

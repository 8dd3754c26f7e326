import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { it } from 'node:test';
import { Redactor } from '../../src/logs/redactor.js';

// A loose gate, not a benchmark: it catches an accidental O(text · secrets) scan or a
// quadratic buffer, which would take tens of seconds here. Measured locally (Node 20, warm):
// ~90–120 MB/s streaming, ~200 MB/s one-shot for this log (11 MB, 20 secrets).
it('redacts a 100,000-line log with 20 secrets in 4 KiB writes within 5 s', () => {
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
  const started = performance.now();

  let out = '';
  for (let i = 0; i < bytes.length; i += 4096) out += redactor.write(bytes.subarray(i, i + 4096));
  out += redactor.flush();

  assert.ok(performance.now() - started < 5000);
  assert.equal(out.split('[REDACTED]').length - 1, 100);
  for (const value of values) assert.ok(!out.includes(value));
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { bounded } from '../../src/app/bounded.js';

/** A pino logger whose lines land in `lines` (parsed). */
function recordingLogger() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'info' }, sink), lines };
}

test('a shutdown step says what it drains and how long it waits, then, when it is stuck, that it went on without it', async () => {
  const { log, lines } = recordingLogger();
  await bounded(log, 'workers', () => new Promise(() => undefined), 30);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    lines.map((l) => [l.msg, l.step, l.waitsUpToMs ?? l.waitedMs]),
    [
      ['Shutdown: draining', 'workers', 30],
      ['Shutdown step timed out; going on without it', 'workers', 30],
    ],
  );
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BatchedEdits, type BatchedEditsOptions } from '../../src/chat/batched-edits.js';

/** A writer that records every write as `<key> live|final`, failing the writes it is told to. */
function recordingWriter(failures: Record<string, number> = {}) {
  const writes: string[] = [];
  const errors: string[] = [];
  const posted = new Set<string>();
  const left = { ...failures };
  return {
    writes,
    errors,
    posted,
    options(over: Partial<BatchedEditsOptions<string>> = {}): BatchedEditsOptions<string> {
      return {
        writer: {
          async write(key, final) {
            const what = `${key} ${final ? 'final' : 'live'}`;
            if ((left[what] ?? 0) > 0) {
              left[what]!--;
              throw new Error(`refused: ${what}`);
            }
            writes.push(what);
            posted.add(key);
          },
          posted: async (key) => posted.has(key),
        },
        limiter: { take: async () => undefined },
        intervalMs: 40,
        firstWriteWaits: false,
        finalAttempts: 1,
        onError: (err) => errors.push((err as Error).message),
        ...over,
      };
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits (bounded) until `n` writes were made. */
async function writesReach(writes: string[], n: number): Promise<void> {
  for (let i = 0; i < 3000 && writes.length < n; i++) await sleep(10);
}

interface Row {
  name: string;
  failures?: Record<string, number>;
  options?: Partial<BatchedEditsOptions<string>>;
  run(edits: BatchedEdits<string>, writes: string[]): Promise<void>;
  writes: string[];
  errors?: string[];
}

const rows: Row[] = [
  {
    name: 'many touches within one interval, then finish: one live write at most, then the final one',
    async run(e, w) {
      for (let i = 0; i < 10; i++) e.touch('a', 'a');
      await writesReach(w, 1);
      for (let i = 0; i < 10; i++) e.touch('a', 'a');
      await e.finish('a', 'a');
    },
    writes: ['a live', 'a final'],
  },
  {
    name: 'firstWriteWaits: a key finished within its first interval gets only its final write',
    options: { firstWriteWaits: true, intervalMs: 10_000 },
    async run(e) {
      e.touch('a', 'a');
      await sleep(50);
      e.touch('a', 'a');
      await e.finish('a', 'a');
    },
    writes: ['a final'],
  },
  {
    name: 'firstWriteAfterMs + finalOnlyIfPosted: a key finished before its first write is due gets no write at all',
    options: { firstWriteWaits: true, intervalMs: 20, firstWriteAfterMs: 10_000, finalOnlyIfPosted: true },
    async run(e) {
      e.touch('a', 'a');
      await sleep(60);
      e.touch('a', 'a');
      await e.finish('a', 'a');
    },
    writes: [],
  },
  {
    name: 'firstWriteAfterMs + finalOnlyIfPosted: a key touched for longer gets its live write, then its final one',
    options: { firstWriteWaits: true, intervalMs: 20, firstWriteAfterMs: 60, finalOnlyIfPosted: true },
    async run(e, w) {
      const touched = Date.now();
      e.touch('a', 'a');
      await writesReach(w, 1);
      assert.ok(Date.now() - touched >= 50, 'the first write waited for firstWriteAfterMs');
      await e.finish('a', 'a');
    },
    writes: ['a live', 'a final'],
  },
  {
    name: 'touches after a write are written again once the interval has passed',
    async run(e, w) {
      e.touch('a', 'a');
      await writesReach(w, 1);
      e.touch('a', 'a');
      await writesReach(w, 2);
      await e.finish('a', 'a');
    },
    writes: ['a live', 'a live', 'a final'],
  },
  {
    name: 'finish of a key never touched and never posted writes its final state once',
    async run(e) {
      await e.finish('a', 'a');
    },
    writes: ['a final'],
  },
  {
    name: 'a failed live write keeps the key dirty: the next write shows it, and the error is reported',
    failures: { 'a live': 1 },
    async run(e, w) {
      e.touch('a', 'a');
      await writesReach(w, 1);
      await e.finish('a', 'a');
    },
    writes: ['a live', 'a final'],
    errors: ['refused: a live'],
  },
  {
    name: 'a failed final write is tried again up to finalAttempts',
    failures: { 'a final': 2 },
    options: { finalAttempts: 3 },
    async run(e) {
      await e.finish('a', 'a');
    },
    writes: ['a final'],
    errors: ['refused: a final', 'refused: a final'],
  },
  {
    name: 'with one final attempt, a failed final write is reported and not repeated',
    failures: { 'a final': 1 },
    async run(e) {
      await e.finish('a', 'a');
    },
    writes: [],
    errors: ['refused: a final'],
  },
  {
    name: 'keys are batched independently',
    async run(e, w) {
      e.touch('a', 'a');
      e.touch('b', 'b');
      await writesReach(w, 2);
      await e.finish('b', 'b');
      await e.finish('a', 'a');
    },
    writes: ['a live', 'b live', 'b final', 'a final'],
  },
  {
    name: 'stop drops pending writes and nothing is written after it',
    options: { firstWriteWaits: true, intervalMs: 30 },
    async run(e) {
      e.touch('a', 'a');
      await e.stop();
      await sleep(100);
    },
    writes: [],
  },
];

describe('batched edits of chat messages', () => {
  for (const row of rows) {
    it(row.name, async () => {
      const rec = recordingWriter(row.failures);
      const edits = new BatchedEdits(rec.options(row.options));
      try {
        await row.run(edits, rec.writes);
        assert.deepEqual(rec.writes, row.writes);
        assert.deepEqual(rec.errors, row.errors ?? []);
      } finally {
        await edits.stop();
      }
    });
  }

  it('writes no more than once per interval per key, however often it is touched', async () => {
    const rec = recordingWriter();
    const times: number[] = [];
    const opts = rec.options({ intervalMs: 50 });
    const write = opts.writer.write;
    opts.writer.write = async (key, final) => {
      times.push(Date.now());
      await write(key, final);
    };
    const edits = new BatchedEdits(opts);
    // Touched for 400 ms, and until two live writes came (a starved process may see none in 400 ms).
    const end = Date.now() + 400;
    const giveUp = Date.now() + 30_000;
    while ((Date.now() < end || times.length < 2) && Date.now() < giveUp) {
      edits.touch('a', 'a');
      await sleep(5);
    }
    await edits.finish('a', 'a');
    assert.ok(rec.writes.length >= 2, rec.writes.join());
    // Timers fire no earlier than asked: consecutive live writes start at least one interval apart.
    const live = times.slice(0, -1);
    for (let i = 1; i < live.length; i++) assert.ok(live[i]! - live[i - 1]! >= 49, `${live[i]! - live[i - 1]!} ms apart`);
  });
});

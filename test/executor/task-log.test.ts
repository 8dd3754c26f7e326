import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { OutputQueue } from '../../src/executor/output-queue.js';
import { TaskLog, type LogSource } from '../../src/executor/swarm/task-log.js';

/** One multiplexed Docker log frame (stream 1 = stdout, 2 = stderr). */
function frame(stream: 1 | 2, text: string): Buffer {
  const body = Buffer.from(text);
  const head = Buffer.alloc(8);
  head.writeUInt8(stream, 0);
  head.writeUInt32BE(body.length, 4);
  return Buffer.concat([head, body]);
}

/** A log source that records how it was used: the follow stream it handed out, the signal, whole reads. */
class RecordingSource implements LogSource {
  readonly live = new PassThrough();
  signal: AbortSignal | undefined;
  reads = 0;
  #answer: () => void = () => undefined;
  readonly #answered: Promise<void>;

  constructor(
    readonly all: Buffer,
    opts: { answerFollow?: boolean } = {},
  ) {
    this.#answered = opts.answerFollow === false ? new Promise((r) => (this.#answer = r)) : Promise.resolve();
  }

  answerFollow(): void {
    this.#answer();
  }

  async follow(signal: AbortSignal): Promise<NodeJS.ReadableStream> {
    this.signal = signal;
    await Promise.race([this.#answered, new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))))]);
    return this.live;
  }

  async readAll(): Promise<Buffer> {
    this.reads += 1;
    return this.all;
  }
}

async function collect(queue: OutputQueue): Promise<string[]> {
  const out: string[] = [];
  for await (const c of queue) out.push(`${c.stream}:${c.data.toString()}`);
  return out;
}

const tick = () => new Promise((r) => setImmediate(r));

test('what the follow delivered is skipped in the final read, per stream; the rest is delivered once', async () => {
  const queue = new OutputQueue();
  const source = new RecordingSource(Buffer.concat([frame(1, 'one\n'), frame(2, 'err\n'), frame(1, 'two\n')]));
  const log = new TaskLog(queue);
  const out = collect(queue);
  log.follow(source);
  await tick();
  source.live.write(frame(1, 'one\n'));
  await tick();
  await log.finish();
  assert.deepEqual(await out, ['stdout:one\n', 'stderr:err\n', 'stdout:two\n']);
  assert.equal(source.reads, 1);
});

test('finishing destroys a follow stream it holds without aborting its request (no AbortError per step)', async () => {
  const queue = new OutputQueue();
  const source = new RecordingSource(frame(1, 'x\n'));
  const log = new TaskLog(queue);
  const out = collect(queue);
  log.follow(source);
  await tick();
  await log.finish();
  assert.equal(source.live.destroyed, true);
  assert.equal(source.signal?.aborted, false);
  source.live.write(frame(1, 'late\n'));
  assert.deepEqual(await out, ['stdout:x\n']);
});

const pendingAtFinish = [
  { when: 'answered 0 ms after finish', answerAfterMs: 0, graceMs: 50, checkAfterMs: 100, aborted: false },
  { when: 'still unanswered after the grace', answerAfterMs: undefined, graceMs: 20, checkAfterMs: 60, aborted: true },
];

for (const c of pendingAtFinish) {
  test(`a follow request pending at finish and ${c.when}: ${c.aborted ? 'aborted' : 'destroyed on arrival, never aborted'}; the output is whole`, async () => {
    const queue = new OutputQueue();
    const source = new RecordingSource(frame(1, 'x\n'), { answerFollow: false });
    const log = new TaskLog(queue, { pendingFollowGraceMs: c.graceMs });
    const out = collect(queue);
    log.follow(source);
    await log.finish();
    assert.equal(source.signal?.aborted, false, 'not aborted at finish');
    if (c.answerAfterMs !== undefined) setTimeout(() => source.answerFollow(), c.answerAfterMs);
    await new Promise((r) => setTimeout(r, c.checkAfterMs));
    assert.equal(source.signal?.aborted, c.aborted);
    if (!c.aborted) assert.equal(source.live.destroyed, true);
    assert.deepEqual(await out, ['stdout:x\n']);
  });
}

test('abort ends the output without a final read', async () => {
  const queue = new OutputQueue();
  const source = new RecordingSource(frame(1, 'x\n'));
  const log = new TaskLog(queue);
  const out = collect(queue);
  log.follow(source);
  await tick();
  source.live.write(frame(2, 'seen\n'));
  await tick();
  log.abort();
  assert.deepEqual(await out, ['stderr:seen\n']);
  assert.equal(source.reads, 0);
  assert.equal(source.live.destroyed, true);
});

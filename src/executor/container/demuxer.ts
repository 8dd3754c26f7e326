import type { OutputChunk } from '../executor.js';
import type { OutputQueue } from '../output-queue.js';

/**
 * Splits Docker's multiplexed stream (8-byte header: stream type, 3 zero bytes, payload
 * length big-endian; then the payload) into tagged chunks. Frames may arrive split across
 * or merged within reads; the demuxer keeps the partial frame until the rest arrives, so no
 * byte is lost or repeated. Stream type 1 is stdout; 2 (and 3, the engine's own errors) stderr.
 */
export class Demuxer {
  readonly #emit: (stream: OutputChunk['stream'], data: Buffer) => void;
  #pending: Buffer = Buffer.alloc(0);

  constructor(emit: (stream: OutputChunk['stream'], data: Buffer) => void) {
    this.#emit = emit;
  }

  write(chunk: Buffer): void {
    let buf = this.#pending.length > 0 ? Buffer.concat([this.#pending, chunk]) : chunk;
    while (buf.length >= 8) {
      const size = buf.readUInt32BE(4);
      if (buf.length < 8 + size) break;
      const type = buf[0];
      if (size > 0) this.#emit(type === 1 ? 'stdout' : 'stderr', buf.subarray(8, 8 + size));
      buf = buf.subarray(8 + size);
    }
    this.#pending = buf.length > 0 ? Buffer.from(buf) : Buffer.alloc(0);
  }

  /** Bytes of an incomplete frame still held (non-zero at the end means a truncated stream). */
  get pendingBytes(): number {
    return this.#pending.length;
  }
}

/** What a caller of `pipeAttached` may do between the attach stream and the queue. */
export interface PipeHooks {
  /** Takes the stderr payloads instead of the queue (a filter that pushes on what it keeps). */
  stderr?(data: Buffer): void;
  /** Runs once the attach stream ends, closes or fails, before the queue ends. */
  ended?(): void;
}

/** Feeds a container's attach stream into `queue`, demultiplexed; the attach stream ends by itself once the container has exited, and the output ends with it. */
export function pipeAttached(attached: NodeJS.ReadableStream, queue: OutputQueue, hooks: PipeHooks = {}): void {
  const { stderr } = hooks;
  const demuxer = new Demuxer((stream, data) => (stream === 'stderr' && stderr ? stderr(data) : queue.push(stream, data)));
  queue.addSource(attached);
  attached.on('data', (chunk: Buffer) => demuxer.write(chunk));
  const end = (): void => {
    hooks.ended?.();
    queue.end();
  };
  attached.once('end', end);
  attached.once('close', end);
  attached.once('error', (err) => {
    hooks.ended?.();
    queue.fail(err);
  });
}

import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import type { OutputChunk } from '../executor.js';
import type { OutputQueue } from '../output-queue.js';
import { Demuxer } from '../container/demuxer.js';
import { statusCode } from '../container/docker-errors.js';

/**
 * A step service's output, live and complete.
 *
 * Live: a `follow` stream of the service logs, demuxed into the queue as it arrives; bytes
 * delivered are counted per stream. Swarm never ends that stream by itself (still open after
 * the task completed), so it is aborted by us.
 *
 * Complete: once the task is terminal, `finish()` aborts the follow stream and reads the whole
 * log once more without follow (the task's container has exited, so its json-file log is
 * final), skipping per stream the bytes already delivered and delivering the rest. Nothing is
 * lost (the final read covers whatever the live stream had not delivered yet) and nothing is
 * repeated (the skipped prefix is exactly what was delivered). Logs must be read before the
 * service is removed: they go with it.
 */
export class ServiceLogs {
  readonly #service: Docker.Service;
  readonly #queue: OutputQueue;
  readonly #abort = new AbortController();
  readonly #delivered = { stdout: 0, stderr: 0 };
  #follow: NodeJS.ReadableStream | undefined;
  #finished: Promise<void> | undefined;

  constructor(service: Docker.Service, queue: OutputQueue) {
    this.#service = service;
    this.#queue = queue;
  }

  /** Start following; failures only cost liveness (the final read is complete anyway). */
  async follow(): Promise<void> {
    try {
      const stream = await this.#service.logs({ follow: true, stdout: true, stderr: true, abortSignal: this.#abort.signal } as Docker.ContainerLogsOptions);
      if (this.#abort.signal.aborted) return;
      this.#follow = stream;
      const demuxer = new Demuxer((stream, data) => this.#deliver(stream, data));
      this.#queue.addSource(stream);
      stream.on('data', (chunk: Buffer) => {
        if (!this.#abort.signal.aborted) demuxer.write(chunk);
      });
      stream.on('error', () => undefined);
    } catch {
      // Aborted or not available: finish() still reads everything.
    }
  }

  /** Nothing to do: the service's log is followed from the start. */
  running(): void {}

  /** Complete the output from the final log and end the queue. Idempotent. */
  finish(): Promise<void> {
    this.#finished ??= this.#finish();
    return this.#finished;
  }

  /** Stop reading without completing (the service is going away). */
  abort(): void {
    this.#stopFollowing();
    this.#queue.end();
  }

  async #finish(): Promise<void> {
    this.#stopFollowing();
    try {
      const skip = { ...this.#delivered };
      const full = await readAll(this.#service);
      const demuxer = new Demuxer((stream, data) => {
        const skipped = Math.min(skip[stream], data.length);
        skip[stream] -= skipped;
        if (skipped < data.length) this.#deliver(stream, data.subarray(skipped));
      });
      demuxer.write(full);
      this.#queue.end();
    } catch (err) {
      // 404: the service was removed (stopped before it ran); there is nothing more to read.
      if (statusCode(err) === 404) this.#queue.end();
      else this.#queue.fail(err);
    }
  }

  #stopFollowing(): void {
    this.#abort.abort();
    const follow = this.#follow;
    if (!follow) return;
    this.#queue.removeSource(follow);
    follow.removeAllListeners('data');
    (follow as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
  }

  #deliver(stream: OutputChunk['stream'], data: Buffer): void {
    this.#delivered[stream] += data.length;
    this.#queue.push(stream, data);
  }
}

/** The whole service log; dockerode returns a Buffer without follow (typed as a stream). */
async function readAll(service: Docker.Service): Promise<Buffer> {
  const result: unknown = await service.logs({ follow: false, stdout: true, stderr: true } as Docker.ContainerLogsOptions);
  if (Buffer.isBuffer(result)) return result;
  const stream = result as NodeJS.ReadableStream;
  const parts: Buffer[] = [];
  const sink = new PassThrough();
  stream.pipe(sink);
  for await (const part of sink) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

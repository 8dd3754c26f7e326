import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import type { OutputChunk } from '../executor.js';
import type { OutputQueue } from '../output-queue.js';
import { Demuxer } from '../container/demuxer.js';
import { statusCode } from '../container/docker-errors.js';

/** Where a step task's multiplexed log is read from. */
export interface LogSource {
  /** A live stream of the log from its start. */
  follow(signal: AbortSignal): Promise<NodeJS.ReadableStream>;
  /** The whole log, read once the task has ended. */
  readAll(): Promise<Buffer>;
}

/** Through Swarm's log broker: works for a task on any node, before its container exists. */
export function serviceLog(service: Docker.Service): LogSource {
  return {
    follow: (signal) => service.logs({ follow: true, stdout: true, stderr: true, abortSignal: signal } as Docker.ContainerLogsOptions),
    readAll: async () => whole(await service.logs({ follow: false, stdout: true, stderr: true } as Docker.ContainerLogsOptions)),
  };
}

/**
 * From the task's container on this engine (one node): no broker hop. Follow only once the
 * container runs: the engine does not follow a created container (the stream ends empty).
 */
export function containerLog(docker: Docker, containerId: string): LogSource {
  const container = docker.getContainer(containerId);
  return {
    follow: (signal) => container.logs({ follow: true, stdout: true, stderr: true, abortSignal: signal } as Docker.ContainerLogsOptions & { follow: true }),
    readAll: async () => whole(await container.logs({ follow: false, stdout: true, stderr: true })),
  };
}

/**
 * A step task's output, live and complete.
 *
 * Live: `follow(source)` (once) demuxes the source's live stream into the queue as it
 * arrives; bytes delivered are counted per stream. A follow stream may never end by itself
 * (Swarm's), or end before the last lines when the container exits (a container's: seen in
 * CI, 34,619 of 100,000 lines), so it is only ever a preview.
 *
 * Complete: `finish(source)`, once the task has ended, stops following and reads the whole
 * log once more (the container has exited, its json-file log is final), skipping per stream
 * exactly the bytes already delivered and delivering the rest. Nothing is lost, nothing is
 * repeated. Logs must be read before the service is removed: they go with it (a 404 then
 * means there is nothing more). Failures to follow only cost liveness.
 */
export class TaskLog {
  readonly #queue: OutputQueue;
  readonly #abort = new AbortController();
  readonly #delivered = { stdout: 0, stderr: 0 };
  #source: LogSource | undefined;
  #stream: NodeJS.ReadableStream | undefined;
  #stopped = false;
  #abortLater: NodeJS.Timeout | undefined;
  #finished: Promise<void> | undefined;

  readonly #pendingFollowGraceMs: number;

  /** `pendingFollowGraceMs`: how long a follow request still unanswered at `finish` may take before it is aborted. */
  constructor(queue: OutputQueue, opts: { pendingFollowGraceMs?: number } = {}) {
    this.#queue = queue;
    this.#pendingFollowGraceMs = opts.pendingFollowGraceMs ?? 5_000;
  }

  /** Start following `source`; later calls (and calls after `finish`/`abort`) do nothing. */
  follow(source: LogSource): void {
    if (this.#source || this.#stopped) return;
    this.#source = source;
    void this.#follow(source);
  }

  /** Complete the output from `source` (default: the one followed) and end it. Idempotent. */
  finish(source?: LogSource): Promise<void> {
    this.#finished ??= this.#finish(source ?? this.#source);
    return this.#finished;
  }

  /** Stop reading without completing (the service is going away). */
  abort(): void {
    this.#stopFollowing();
    this.#queue.end();
  }

  async #follow(source: LogSource): Promise<void> {
    try {
      const stream = await source.follow(this.#abort.signal).finally(() => clearTimeout(this.#abortLater));
      if (this.#stopped) {
        destroy(stream);
        return;
      }
      this.#stream = stream;
      const demuxer = new Demuxer((name, data) => this.#deliver(name, data));
      this.#queue.addSource(stream);
      stream.on('data', (chunk: Buffer) => {
        if (this.#stream === stream) demuxer.write(chunk);
      });
      stream.on('error', () => undefined);
    } catch {
      // Aborted or not available: finish() still reads everything.
    }
  }

  async #finish(source: LogSource | undefined): Promise<void> {
    this.#stopFollowing();
    if (!source) {
      this.#queue.end();
      return;
    }
    try {
      const skip = { ...this.#delivered };
      const demuxer = new Demuxer((name, data) => {
        const skipped = Math.min(skip[name], data.length);
        skip[name] -= skipped;
        if (skipped < data.length) this.#deliver(name, data.subarray(skipped));
      });
      demuxer.write(await source.readAll());
      this.#queue.end();
    } catch (err) {
      if (statusCode(err) === 404) this.#queue.end();
      else this.#queue.fail(err);
    }
  }

  /**
   * A follow stream already received is destroyed: its socket closes, no error. Only a follow
   * request still waiting for its response is aborted, after the pending-follow grace: aborting
   * rejects with an `AbortError` whose stack, under source maps, cost ~3 ms of CPU per step,
   * while a pending request usually answers within milliseconds (and is then destroyed above).
   */
  #stopFollowing(): void {
    if (!this.#stopped) {
      this.#stopped = true;
      if (this.#source && !this.#stream) this.#abortLater = setTimeout(() => this.#abort.abort(), this.#pendingFollowGraceMs).unref();
    }
    const stream = this.#stream;
    this.#stream = undefined;
    if (!stream) return;
    this.#queue.removeSource(stream);
    stream.removeAllListeners('data');
    destroy(stream);
  }

  #deliver(name: OutputChunk['stream'], data: Buffer): void {
    this.#delivered[name] += data.length;
    this.#queue.push(name, data);
  }
}

/** A whole log: dockerode returns a Buffer without follow (typed as a stream). */
async function whole(result: unknown): Promise<Buffer> {
  if (Buffer.isBuffer(result)) return result;
  const parts: Buffer[] = [];
  const sink = new PassThrough();
  (result as NodeJS.ReadableStream).pipe(sink);
  for await (const part of sink) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

function destroy(stream: NodeJS.ReadableStream): void {
  (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
}

import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import type { OutputQueue } from '../output-queue.js';
import { Demuxer } from '../container/demuxer.js';
import { statusCode } from '../container/docker-errors.js';

/**
 * A step task's output read from its container on this engine, for tasks known to run here
 * (one node: every step is pinned to the manager). Faster than `ServiceLogs` at the end: the
 * container's log stream ends by itself when the container exits, so no second read through
 * Swarm's log broker is needed (measured ~60 ms per step).
 *
 * Read from the beginning once the container is running: `running(id)` (the start event or
 * a poll), or at the latest `finish(id)` with the container of the ended task. The engine
 * follows a running container until it exits. Never read before the container runs: the
 * engine does not follow a created container, so the stream would end empty.
 *
 * Complete: the follow stream can end before the last lines when the container exits
 * (seen in CI: 34,619 of 100,000 lines), so `finish`, called once the task has ended, reads
 * the container's whole log once more (local, a few ms) and delivers, per stream, only the
 * bytes beyond those already delivered. Nothing is lost, nothing repeated.
 */
export class ContainerLogs {
  readonly #docker: Docker;
  readonly #queue: OutputQueue;
  #reading: Promise<void> | undefined;
  #containerId: string | undefined;
  #stream: NodeJS.ReadableStream | undefined;
  #aborted = false;
  #finished: Promise<void> | undefined;
  readonly #delivered = { stdout: 0, stderr: 0 };

  constructor(docker: Docker, queue: OutputQueue) {
    this.#docker = docker;
    this.#queue = queue;
  }

  /** The task's container is running (or has run): start reading it. Idempotent. */
  running(containerId: string): void {
    if (this.#aborted || this.#reading) return;
    this.#containerId = containerId;
    this.#reading = this.#follow(containerId);
  }

  /** Complete the output (the task has ended): what the follow missed, then the end. Idempotent. */
  finish(containerId?: string): Promise<void> {
    this.#finished ??= this.#finish(containerId);
    return this.#finished;
  }

  async #finish(containerId: string | undefined): Promise<void> {
    if (containerId && !this.#containerId) this.#containerId = containerId;
    const id = this.#containerId;
    if (this.#reading) {
      this.#stopFollowing();
      await this.#reading;
    }
    if (!id || this.#aborted) {
      this.#queue.end();
      return;
    }
    try {
      const full = await readAll(this.#docker.getContainer(id));
      const skip = { ...this.#delivered };
      const demuxer = new Demuxer((name, data) => {
        const skipped = Math.min(skip[name], data.length);
        skip[name] -= skipped;
        if (skipped < data.length) this.#deliver(name, data.subarray(skipped));
      });
      demuxer.write(full);
      this.#queue.end();
    } catch (err) {
      // 404: the container went with its service; there is nothing more to read.
      if (statusCode(err) === 404) this.#queue.end();
      else this.#queue.fail(err);
    }
  }

  /** Stop reading without completing (the service is going away). */
  abort(): void {
    this.#aborted = true;
    this.#stopFollowing();
    this.#queue.end();
  }

  #stopFollowing(): void {
    const stream = this.#stream;
    this.#stream = undefined;
    if (!stream) return;
    this.#queue.removeSource(stream);
    stream.removeAllListeners('data');
    (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
  }

  #deliver(name: 'stdout' | 'stderr', data: Buffer): void {
    this.#delivered[name] += data.length;
    this.#queue.push(name, data);
  }

  /** Live output while the container runs; `finish` completes it. Failures only cost liveness. */
  async #follow(containerId: string): Promise<void> {
    let stream: NodeJS.ReadableStream;
    try {
      stream = (await this.#docker.getContainer(containerId).logs({ follow: true, stdout: true, stderr: true })) as NodeJS.ReadableStream;
    } catch {
      return;
    }
    if (this.#aborted || this.#finished) {
      (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      return;
    }
    this.#stream = stream;
    const demuxer = new Demuxer((name, data) => this.#deliver(name, data));
    this.#queue.addSource(stream);
    await new Promise<void>((resolve) => {
      stream.on('data', (chunk: Buffer) => {
        if (this.#stream === stream) demuxer.write(chunk);
      });
      stream.once('end', resolve);
      stream.once('close', resolve);
      stream.once('error', () => resolve());
    });
    if (this.#stream === stream) this.#stopFollowing();
  }
}

/** The container's whole log; dockerode returns a Buffer without follow (typed as a stream). */
async function readAll(container: Docker.Container): Promise<Buffer> {
  const result: unknown = await container.logs({ follow: false, stdout: true, stderr: true });
  if (Buffer.isBuffer(result)) return result;
  const parts: Buffer[] = [];
  const sink = new PassThrough();
  (result as NodeJS.ReadableStream).pipe(sink);
  for await (const part of sink) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

import type Docker from 'dockerode';
import { labelKeys } from '../executor.js';

/** A step task's container started, or exited (with its exit code), on this engine. */
export type ContainerEvent = { serviceId: string; taskId: string; nodeId: string; containerId: string } & (
  { action: 'start' } | { action: 'die'; exitCode: number }
);

/**
 * `start` and `die` events of this instance's step containers on the engine Bosun talks to
 * (one `GET /events` stream, shared by every step).
 *
 * Why: Swarm reports a task `complete` to the manager some 50–150 ms after its container died,
 * and a poll sees it up to one interval after that; the event arrives within milliseconds and
 * carries the exit code. Only containers on this engine produce events (on other nodes the
 * task poll still decides), and a lost stream only costs latency: it is reopened after
 * `retryMs` while anyone listens.
 *
 * `connected` is true while the stream is open, so a caller may poll more slowly then.
 */
export class ContainerEvents {
  readonly #docker: Docker;
  readonly #instanceId: string;
  readonly #retryMs: number;
  readonly #listeners = new Set<(event: ContainerEvent) => void>();
  #stream: NodeJS.ReadableStream | undefined;
  #opening = false;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;
  connected = false;

  constructor(docker: Docker, instanceId: string, retryMs = 1000) {
    this.#docker = docker;
    this.#instanceId = instanceId;
    this.#retryMs = retryMs;
  }

  /** Listen; the stream opens with the first listener. Returns the unsubscribe. */
  listen(onEvent: (event: ContainerEvent) => void): () => void {
    this.#listeners.add(onEvent);
    void this.#open();
    return () => {
      this.#listeners.delete(onEvent);
    };
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#listeners.clear();
    this.#drop();
  }

  async #open(): Promise<void> {
    if (this.#closed || this.#stream || this.#opening || this.#retry) return;
    this.#opening = true;
    try {
      const filters = { type: ['container'], event: ['start', 'die'], label: [`${labelKeys.managed}=true`, `${labelKeys.instance}=${this.#instanceId}`] };
      const stream = (await this.#docker.getEvents({ filters: JSON.stringify(filters) })) as NodeJS.ReadableStream;
      if (this.#closed) {
        destroy(stream);
        return;
      }
      this.#stream = stream;
      this.connected = true;
      let buffered = '';
      stream.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('utf8');
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          const event = parseContainerEvent(line);
          if (event) for (const listener of this.#listeners) listener(event);
        }
      });
      const lost = () => {
        if (this.#stream !== stream) return;
        this.#drop();
        this.#again();
      };
      stream.on('end', lost);
      stream.on('close', lost);
      stream.on('error', lost);
    } catch {
      this.#again();
    } finally {
      this.#opening = false;
    }
  }

  #again(): void {
    if (this.#closed || this.#retry) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (this.#listeners.size > 0) void this.#open();
    }, this.#retryMs);
    this.#retry.unref();
  }

  #drop(): void {
    const stream = this.#stream;
    this.#stream = undefined;
    this.connected = false;
    if (stream) destroy(stream);
  }
}

/** A `start` or `die` event of a swarm task container, or undefined for anything else. */
export function parseContainerEvent(line: string): ContainerEvent | undefined {
  let event: { Action?: unknown; id?: unknown; Actor?: { ID?: unknown; Attributes?: Record<string, unknown> } };
  try {
    event = JSON.parse(line) as typeof event;
  } catch {
    return undefined;
  }
  const attributes = event.Actor?.Attributes ?? {};
  const serviceId = attributes['com.docker.swarm.service.id'];
  const containerId = event.Actor?.ID ?? event.id;
  if (typeof serviceId !== 'string' || serviceId === '' || typeof containerId !== 'string' || containerId === '') return undefined;
  const task = { serviceId, containerId, taskId: text(attributes['com.docker.swarm.task.id']), nodeId: text(attributes['com.docker.swarm.node.id']) };
  if (event.Action === 'start') return { action: 'start', ...task };
  const exitCode = typeof attributes.exitCode === 'string' && /^\d+$/.test(attributes.exitCode) ? Number(attributes.exitCode) : NaN;
  if (event.Action !== 'die' || !Number.isInteger(exitCode)) return undefined;
  return { action: 'die', ...task, exitCode };
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function destroy(stream: NodeJS.ReadableStream): void {
  (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
}

import type Docker from 'dockerode';

/**
 * When containers really started, from the engine's event stream (`start` events, daemon
 * clock = this host's clock). Keys: `bench:<bench.run label>` for the floor's containers and
 * `<bosun.instance>/<bosun.build>` for Bosun's steps (the first start of the build).
 */
export class ContainerStarts {
  readonly #starts = new Map<string, number>();
  readonly #waiters = new Map<string, () => void>();
  #stream: NodeJS.ReadableStream | undefined;

  static async open(docker: Docker): Promise<ContainerStarts> {
    const self = new ContainerStarts();
    const stream = (await docker.getEvents({
      filters: JSON.stringify({ type: ['container'], event: ['start'] }),
    } as never)) as unknown as NodeJS.ReadableStream;
    self.#stream = stream;
    let buffered = '';
    stream.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line) self.#onEvent(line);
      }
    });
    stream.on('error', () => undefined);
    return self;
  }

  #onEvent(line: string): void {
    let event: { Action?: string; timeNano?: number; Actor?: { Attributes?: Record<string, string> } };
    try {
      event = JSON.parse(line) as typeof event;
    } catch {
      return;
    }
    const attrs = event.Actor?.Attributes ?? {};
    const at = (event.timeNano ?? 0) / 1e6;
    const key = attrs['bench.run']
      ? `bench:${attrs['bench.run']}`
      : attrs['bosun.instance'] && attrs['bosun.build']
        ? `${attrs['bosun.instance']}/${attrs['bosun.build']}`
        : undefined;
    if (!key || this.#starts.has(key)) return;
    this.#starts.set(key, at);
    this.#waiters.get(key)?.();
  }

  /** The start time (epoch ms) for `key`, waiting up to `timeoutMs` for a late event. */
  async get(key: string, timeoutMs = 2000): Promise<number | undefined> {
    if (this.#starts.has(key)) return this.#starts.get(key);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.#waiters.set(key, () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.#waiters.delete(key);
    return this.#starts.get(key);
  }

  close(): void {
    const stream = this.#stream as (NodeJS.ReadableStream & { destroy?: () => void }) | undefined;
    stream?.destroy?.();
  }
}

import type { Redis } from 'ioredis';
import { quiet } from '../storage/redis-connection.js';
import type { CancelWatcher, ControlChannel } from '../pipeline/pipeline-deps.js';
import { keys as makeKeys } from '../storage/keys.js';

/**
 * Cancellation over Redis pub/sub: `cancel` publishes, every worker process listens and
 * stops the steps it runs for that build. Pub/sub is fire-and-forget, so workers also
 * re-check the build's status between steps (a missed message costs one step at most).
 */
export class RedisControlChannel implements ControlChannel, CancelWatcher {
  private readonly channel: string;
  private sub: Redis | null = null;
  private readonly watchers = new Map<string, Set<() => void>>();

  constructor(
    private readonly redis: Redis,
    prefix = 'bosun',
  ) {
    this.channel = makeKeys(prefix).control;
  }

  async cancel(buildId: string): Promise<void> {
    await this.redis.publish(this.channel, JSON.stringify({ cancel: buildId }));
  }

  /** Starts listening (worker processes only). */
  async listen(): Promise<void> {
    if (this.sub) return;
    this.sub = quiet(this.redis.duplicate());
    this.sub.on('message', (_channel: string, message: string) => {
      let buildId: unknown;
      try {
        buildId = (JSON.parse(message) as { cancel?: unknown }).cancel;
      } catch {
        return;
      }
      if (typeof buildId !== 'string') return;
      for (const fn of this.watchers.get(buildId) ?? []) fn();
    });
    await this.sub.subscribe(this.channel);
  }

  watch(buildId: string, onCancel: () => void): () => void {
    let fired = false;
    const fn = () => {
      if (fired) return;
      fired = true;
      onCancel();
    };
    let set = this.watchers.get(buildId);
    if (!set) this.watchers.set(buildId, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) this.watchers.delete(buildId);
    };
  }

  async close(): Promise<void> {
    this.sub?.disconnect();
    this.sub = null;
  }
}

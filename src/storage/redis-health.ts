import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';

export interface RedisHealthOptions {
  /** How often a PING checks a connection that looks fine (a hung server keeps its socket). */
  pingIntervalMs: number;
  /** A PING not answered within this counts as a failed check. */
  pingTimeoutMs: number;
  /**
   * Failed checks in a row that make an outage (a closed connection is one at once). One slow
   * PING is not an outage: on a busy machine, or during a pause of Bosun's own event loop,
   * a healthy Redis can miss a deadline, and a 503 then would refuse a webhook GitHub never resends.
   */
  failuresBeforeDown: number;
  /** What `Retry-After` tells callers while Redis is unreachable. */
  retryAfterSec: number;
}

const defaultRedisHealthOptions: RedisHealthOptions = { pingIntervalMs: 1000, pingTimeoutMs: 2000, failuresBeforeDown: 2, retryAfterSec: 5 };

export type RedisCheck = { ok: true; latencyMs: number } | { ok: false; error: string };

/**
 * Whether Bosun's Redis can be used right now: the one place request paths consult before
 * touching Redis. Down as soon as the shared connection closes (a killed server) or when
 * `failuresBeforeDown` PINGs in a row go unanswered for `pingTimeoutMs` (a hung one); up again
 * when the connection is ready and a PING answers. Listeners hear each change (the HTTP gate answers waiting requests with 503).
 *
 * Lifecycle: `start()` once after the connection is ready; `stop()` clears the timer and is
 * safe twice. Not concurrent-safe beyond Node's single thread (no locking needed).
 */
export class RedisHealth {
  private state: { up: true } | { up: false; reason: string; since: number } = { up: true };
  private timer: NodeJS.Timeout | null = null;
  private failures = 0;
  private readonly listeners = new Set<(up: boolean) => void>();
  private readonly onClose = () => this.markDown('connection to Redis lost');
  private readonly onReady = () => void this.tick();

  constructor(
    private readonly redis: Redis,
    private readonly log: Logger,
    readonly options: RedisHealthOptions = defaultRedisHealthOptions,
  ) {}

  get up(): boolean {
    return this.state.up;
  }

  /** Why Redis is down (for logs and the 503 body), or null when up. */
  get reason(): string | null {
    return this.state.up ? null : this.state.reason;
  }

  get retryAfterSec(): number {
    return this.options.retryAfterSec;
  }

  start(): void {
    this.redis.on('close', this.onClose);
    this.redis.on('end', this.onClose);
    this.redis.on('ready', this.onReady);
    const loop = () => {
      this.timer = setTimeout(() => void this.tick().finally(() => this.timer && loop()), this.options.pingIntervalMs);
      this.timer.unref();
    };
    loop();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.redis.off('close', this.onClose);
    this.redis.off('end', this.onClose);
    this.redis.off('ready', this.onReady);
  }

  /** Calls `fn(up)` on every change; returns the unsubscribe function. */
  onChange(fn: (up: boolean) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** One PING on the shared connection, bounded by `pingTimeoutMs`; never queued while disconnected. */
  async check(): Promise<RedisCheck> {
    if (this.redis.status !== 'ready') return { ok: false, error: `not connected (${this.redis.status})` };
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<RedisCheck>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, error: `PING not answered within ${this.options.pingTimeoutMs} ms` }), this.options.pingTimeoutMs);
    });
    const ping = this.redis.ping().then(
      (): RedisCheck => ({ ok: true, latencyMs: Date.now() - started }),
      (err: unknown): RedisCheck => ({ ok: false, error: err instanceof Error ? err.message : String(err) }),
    );
    try {
      return await Promise.race([ping, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async tick(): Promise<void> {
    const r = await this.check();
    if (r.ok) {
      this.failures = 0;
      this.markUp();
      return;
    }
    this.failures += 1;
    if (this.redis.status !== 'ready' || this.failures >= this.options.failuresBeforeDown) this.markDown(r.error);
  }

  private markUp(): void {
    if (this.state.up) return;
    this.log.warn({ downForMs: Date.now() - this.state.since }, 'Redis is reachable again');
    this.state = { up: true };
    for (const fn of this.listeners) fn(true);
  }

  private markDown(reason: string): void {
    if (!this.state.up) return;
    this.log.error({ reason }, 'Redis is unreachable: requests get 503 until it is back');
    this.state = { up: false, reason, since: Date.now() };
    for (const fn of this.listeners) fn(false);
  }
}

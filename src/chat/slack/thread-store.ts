import type { Redis } from 'ioredis';

/** Where a build's Slack thread lives: channel and root `ts`, plus the ts of messages we edit. */
export interface ThreadRef {
  channel: string;
  ts: string;
}

const ttlSec = 30 * 24 * 3600;

/**
 * Slack message timestamps per build, in Redis (so edits continue after a restart).
 * One hash per build: `root` = channel + ts, and named fields (`log:<stage>/<step>`,
 * `cp:<stage>`, `done:…` markers) for the messages the reporter edits or posts once.
 */
export class ThreadStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(buildId: string): string {
    return `${this.prefix}:slack:thread:${buildId}`;
  }

  async root(buildId: string): Promise<ThreadRef | null> {
    const raw = await this.redis.hget(this.key(buildId), 'root');
    return raw ? (JSON.parse(raw) as ThreadRef) : null;
  }

  async setRoot(buildId: string, ref: ThreadRef): Promise<void> {
    await this.redis.hset(this.key(buildId), 'root', JSON.stringify(ref));
    await this.redis.expire(this.key(buildId), ttlSec);
  }

  async get(buildId: string, field: string): Promise<string | null> {
    return this.redis.hget(this.key(buildId), field);
  }

  async set(buildId: string, field: string, value: string): Promise<void> {
    await this.redis.hset(this.key(buildId), field, value);
  }

  /** Marks `field` once; true only for the first caller (at-least-once delivery → post once). */
  async once(buildId: string, field: string): Promise<boolean> {
    return (await this.redis.hsetnx(this.key(buildId), field, '1')) === 1;
  }
}

import type { Redis } from 'ioredis';

/** Where a build's Zulip topic lives: its stream and topic, and the root message id. */
export interface TopicRef {
  stream: string;
  topic: string;
  root: number;
}

const ttlSec = 30 * 24 * 3600;

/**
 * Zulip message ids per build, in Redis (so edits continue after a restart): one hash per build
 * with `root` (stream, topic, message id) and named fields (`log:<stage>/<step>`, `cp:<stage>`,
 * once-markers). Checkpoint cards are also indexed by message id, so a reaction finds its build.
 */
export class TopicStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(buildId: string): string {
    return `${this.prefix}:zulip:topic:${buildId}`;
  }

  async root(buildId: string): Promise<TopicRef | null> {
    const raw = await this.redis.hget(this.key(buildId), 'root');
    return raw ? (JSON.parse(raw) as TopicRef) : null;
  }

  async setRoot(buildId: string, ref: TopicRef): Promise<void> {
    await this.redis.hset(this.key(buildId), 'root', JSON.stringify(ref));
    await this.redis.expire(this.key(buildId), ttlSec);
  }

  async get(buildId: string, field: string): Promise<number | null> {
    const raw = await this.redis.hget(this.key(buildId), field);
    return raw ? Number(raw) : null;
  }

  async set(buildId: string, field: string, messageId: number): Promise<void> {
    await this.redis.hset(this.key(buildId), field, String(messageId));
  }

  /** Marks `field` once; true only for the first caller (at-least-once delivery → post once). */
  async once(buildId: string, field: string): Promise<boolean> {
    return (await this.redis.hsetnx(this.key(buildId), `once:${field}`, '1')) === 1;
  }

  async setCard(messageId: number, card: { buildId: string; stage: string }): Promise<void> {
    await this.redis.set(`${this.prefix}:zulip:card:${messageId}`, JSON.stringify(card), 'EX', ttlSec);
    await this.redis.sadd(`${this.prefix}:zulip:cards:open`, String(messageId));
  }

  /** A decided card no longer takes reactions. */
  async closeCard(messageId: number): Promise<void> {
    await this.redis.srem(`${this.prefix}:zulip:cards:open`, String(messageId));
  }

  /** Cards still waiting for a decision (their reactions are read back after a lost queue). */
  async openCards(): Promise<number[]> {
    return (await this.redis.smembers(`${this.prefix}:zulip:cards:open`)).map(Number);
  }

  async card(messageId: number): Promise<{ buildId: string; stage: string } | null> {
    const raw = await this.redis.get(`${this.prefix}:zulip:card:${messageId}`);
    return raw ? (JSON.parse(raw) as { buildId: string; stage: string }) : null;
  }
}

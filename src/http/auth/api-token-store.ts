import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { Scope } from './auth-config.js';

/** A user's API token as stored: never the token itself, only its SHA-256. */
export const StoredApiToken = z.strictObject({
  id: z.string(),
  /** The actor the token acts as (its creator). */
  owner: z.string(),
  ownerName: z.string(),
  name: z.string(),
  scopes: z.array(Scope).min(1),
  createdAt: z.string(),
  digest: z.string(),
});
export type StoredApiToken = z.infer<typeof StoredApiToken>;

/** What listing shows: everything but the digest. */
export type ApiTokenInfo = Omit<StoredApiToken, 'digest'>;

const tokenShape = /^bsn_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$/;

/**
 * Users' API tokens in Redis: `<prefix>:auth:token:<sha256>` → the record, and
 * `<prefix>:auth:tokens:<owner>` → id → sha256 (the owner's list). A token is
 * `bsn_<id>_<secret>`; it is returned once by `create` and never again.
 */
export class ApiTokenStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async create(owner: { id: string; name: string }, name: string, scopes: Scope[]): Promise<{ token: string; info: ApiTokenInfo }> {
    const id = randomBytes(6).toString('hex');
    const token = `bsn_${id}_${randomBytes(32).toString('base64url')}`;
    const digest = sha256hex(token);
    const record: StoredApiToken = {
      id,
      owner: owner.id,
      ownerName: owner.name,
      name,
      scopes: [...new Set(scopes)],
      createdAt: new Date().toISOString(),
      digest,
    };
    await this.redis.multi().set(this.tokenKey(digest), JSON.stringify(record)).hset(this.ownerKey(owner.id), id, digest).exec();
    return { token, info: withoutDigest(record) };
  }

  /** The record a presented token stands for, or null (unknown, revoked, or not a Bosun token). */
  async lookup(token: string): Promise<StoredApiToken | null> {
    if (!tokenShape.test(token)) return null;
    const raw = await this.redis.get(this.tokenKey(sha256hex(token)));
    if (!raw) return null;
    const parsed = StoredApiToken.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  }

  async list(owner: string): Promise<ApiTokenInfo[]> {
    const digests = Object.values(await this.redis.hgetall(this.ownerKey(owner)));
    if (digests.length === 0) return [];
    const raws = await this.redis.mget(digests.map((d) => this.tokenKey(d)));
    return raws
      .flatMap((r) => (r ? [StoredApiToken.safeParse(JSON.parse(r))] : []))
      .flatMap((p) => (p.success ? [withoutDigest(p.data)] : []))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Revokes one of `owner`'s tokens; false when it has no such token. */
  async revoke(owner: string, id: string): Promise<boolean> {
    const digest = await this.redis.hget(this.ownerKey(owner), id);
    if (!digest) return false;
    await this.redis.multi().del(this.tokenKey(digest)).hdel(this.ownerKey(owner), id).exec();
    return true;
  }

  private tokenKey(digest: string): string {
    return `${this.prefix}:auth:token:${digest}`;
  }

  private ownerKey(owner: string): string {
    return `${this.prefix}:auth:tokens:${owner}`;
  }
}

function withoutDigest(r: StoredApiToken): ApiTokenInfo {
  const { digest: _digest, ...info } = r;
  return info;
}

function sha256hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

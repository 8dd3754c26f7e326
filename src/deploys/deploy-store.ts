import type { Redis } from 'ioredis';
import type { Deploy } from '../domain/deploy.js';
import { deployEvent } from '../domain/deploy.js';
import { InfraError, UserError } from '../errors.js';
import { keys } from '../storage/keys.js';

/** The event stream's approximate cap, as the build store and EventBus keep it. */
const EVENTS_MAX_LEN = 200_000;

/** Who locked an environment, and why. */
export interface EnvironmentLock {
  by: { id: string; name: string };
  reason: string;
  at: string;
}

/**
 * Deploy records and the per-environment coordination keys, in Redis:
 * - `deploy:<id>`: the record (JSON + version; writes are compare-and-set, like builds);
 * - `deploy:env:<env>` / `deploy:repo:<repo>`: history, newest last (sorted by creation);
 * - `deploy:mutex:<env>`: the one deploy allowed to run there, as a lease (`PX`), renewed by
 *   its runner while it runs; a dead runner's lease lapses and the watchdog resolves it (R21);
 * - `deploy:queued:<env>`: the one deploy waiting for the mutex (a newer one supersedes it);
 * - `deploy:active:<env>:<digest>`: the idempotency key (environment + digest) held from the
 *   request until the deploy ends, so the same digest is never in flight twice;
 * - `deploy:applied:<id>`: set just before the target is told to act, so whoever resolves a
 *   deploy whose runner died knows not to act again (it observes the target instead);
 * - `deploy:running`: ids of running deploys (the watchdog's work list);
 * - `deploy:lock:<env>`: a human lock (`lock <env> <reason>`);
 * - `deploy:approval:<build>`: the deploy an approval build decides.
 * A write that changes a deploy's state can carry its `deploy.status` event: the record and
 * the event go in one Lua script (like the build store's), so a crash never leaves one without
 * the other; the event is appended first, so a script that fails there writes nothing.
 */
export class DeployStore {
  private readonly p: string;
  private readonly events: string;
  constructor(
    private readonly redis: Redis,
    prefix = 'bosun',
  ) {
    this.p = `${prefix}:deploy`;
    this.events = keys(prefix).events;
    redis.defineCommand('bosunDeployCreate', { numberOfKeys: 4, lua: CREATE_LUA });
    redis.defineCommand('bosunDeployCas', { numberOfKeys: 2, lua: CAS_LUA });
    redis.defineCommand('bosunDeployIfEq', { numberOfKeys: 1, lua: IF_EQ_LUA });
  }

  private get scripts(): Scripts {
    return this.redis as unknown as Scripts;
  }

  async nextId(): Promise<string> {
    return String(await this.redis.incr(`${this.p}:seq`));
  }

  /** Writes a new record (and its `deploy.status` event with `text`, when given) at once. */
  async create(d: Deploy, text?: string): Promise<void> {
    const score = String(Date.parse(d.createdAt));
    const event = text === undefined ? '' : JSON.stringify(deployEvent(d, text));
    const ok = await this.scripts.bosunDeployCreate(
      `${this.p}:${d.id}`,
      `${this.p}:env:${d.environment}`,
      `${this.p}:repo:${d.repo}`,
      this.events,
      JSON.stringify(d),
      String(d.version),
      score,
      d.id,
      event,
      String(EVENTS_MAX_LEN),
    );
    if (ok !== 1) throw new UserError('conflict', `deploy ${d.id} already exists`);
  }

  async get(id: string): Promise<Deploy | null> {
    const json = await this.redis.hget(`${this.p}:${id}`, 'json');
    return json ? (JSON.parse(json) as Deploy) : null;
  }

  /**
   * Compare-and-set: `mutate` gets a copy (false = no change); re-applied when another writer
   * won. With `describe`, the write also appends the `deploy.status` event saying it, atomically.
   */
  async update(id: string, mutate: (d: Deploy) => boolean, describe?: (d: Deploy) => string): Promise<{ deploy: Deploy; changed: boolean }> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const current = await this.get(id);
      if (!current) throw new UserError('not_found', `no deploy #${id}`);
      const next = structuredClone(current);
      if (!mutate(next)) return { deploy: current, changed: false };
      next.version = current.version + 1;
      const event = describe ? JSON.stringify(deployEvent(next, describe(next))) : '';
      const ok = await this.scripts.bosunDeployCas(
        `${this.p}:${id}`,
        this.events,
        String(current.version),
        JSON.stringify(next),
        String(next.version),
        event,
        String(EVENTS_MAX_LEN),
      );
      if (ok === 1) return { deploy: next, changed: true };
    }
    throw new InfraError('conflict', `deploy ${id} kept changing under us`);
  }

  /** Newest first. */
  async history(by: { environment: string } | { repo: string }, limit = 50): Promise<Deploy[]> {
    const key = 'environment' in by ? `${this.p}:env:${by.environment}` : `${this.p}:repo:${by.repo}`;
    const ids = await this.redis.zrevrange(key, 0, limit - 1);
    const all = await Promise.all(ids.map((id) => this.get(id)));
    return all.filter((d): d is Deploy => d !== null);
  }

  // --- idempotency (environment + digest) ---
  /** Claims env+digest for `id`; returns the id already holding it, or null when claimed. */
  async claimDigest(env: string, digest: string, id: string): Promise<string | null> {
    const key = `${this.p}:active:${env}:${digest}`;
    if ((await this.redis.set(key, id, 'NX')) === 'OK') return null;
    return this.redis.get(key);
  }

  async releaseDigest(env: string, digest: string, id: string): Promise<void> {
    await this.scripts.bosunDeployIfEq(`${this.p}:active:${env}:${digest}`, id, 'del');
  }

  // --- the one queued deploy per environment ---
  /** Makes `id` the environment's queued deploy; returns the one it replaces (to supersede). */
  async setQueued(env: string, id: string): Promise<string | null> {
    const old = await this.redis.getset(`${this.p}:queued:${env}`, id);
    return old && old !== id ? old : null;
  }

  async queued(env: string): Promise<string | null> {
    return this.redis.get(`${this.p}:queued:${env}`);
  }

  async clearQueued(env: string, id: string): Promise<void> {
    await this.scripts.bosunDeployIfEq(`${this.p}:queued:${env}`, id, 'del');
  }

  // --- the per-environment mutex (a lease with a TTL) ---
  async acquireMutex(env: string, holder: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(`${this.p}:mutex:${env}`, holder, 'PX', ttlMs, 'NX')) === 'OK';
  }

  /** Renews the lease if `holder` still has it. */
  async renewMutex(env: string, holder: string, ttlMs: number): Promise<boolean> {
    return (await this.scripts.bosunDeployIfEq(`${this.p}:mutex:${env}`, holder, 'pexpire', String(ttlMs))) === 1;
  }

  async releaseMutex(env: string, holder: string): Promise<void> {
    await this.scripts.bosunDeployIfEq(`${this.p}:mutex:${env}`, holder, 'del');
  }

  async mutexHolder(env: string): Promise<string | null> {
    return this.redis.get(`${this.p}:mutex:${env}`);
  }

  // --- what the watchdog needs ---
  async markApplied(id: string): Promise<void> {
    await this.redis.set(`${this.p}:applied:${id}`, '1', 'EX', 90 * 24 * 3600);
  }

  async wasApplied(id: string): Promise<boolean> {
    return (await this.redis.exists(`${this.p}:applied:${id}`)) === 1;
  }

  async addRunning(id: string): Promise<void> {
    await this.redis.sadd(`${this.p}:running`, id);
  }

  async removeRunning(id: string): Promise<void> {
    await this.redis.srem(`${this.p}:running`, id);
  }

  async runningIds(): Promise<string[]> {
    return this.redis.smembers(`${this.p}:running`);
  }

  // --- locks ---
  /** Locks the environment; returns the lock already there (unchanged) if someone holds one. */
  async lock(env: string, lock: EnvironmentLock): Promise<EnvironmentLock | null> {
    const key = `${this.p}:lock:${env}`;
    if ((await this.redis.set(key, JSON.stringify(lock), 'NX')) === 'OK') return null;
    return this.getLock(env);
  }

  async getLock(env: string): Promise<EnvironmentLock | null> {
    const json = await this.redis.get(`${this.p}:lock:${env}`);
    return json ? (JSON.parse(json) as EnvironmentLock) : null;
  }

  async unlock(env: string): Promise<boolean> {
    return (await this.redis.del(`${this.p}:lock:${env}`)) === 1;
  }

  // --- approvals ---
  async linkApproval(buildId: string, deployId: string): Promise<void> {
    await this.redis.set(`${this.p}:approval:${buildId}`, deployId, 'EX', 90 * 24 * 3600);
  }

  async deployForApproval(buildId: string): Promise<string | null> {
    return this.redis.get(`${this.p}:approval:${buildId}`);
  }
}

interface Scripts {
  bosunDeployCreate(
    key: string,
    envKey: string,
    repoKey: string,
    events: string,
    json: string,
    version: string,
    score: string,
    id: string,
    event: string,
    maxLen: string,
  ): Promise<number>;
  bosunDeployCas(key: string, events: string, version: string, json: string, nextVersion: string, event: string, maxLen: string): Promise<number>;
  bosunDeployIfEq(key: string, expected: string, op: 'del' | 'pexpire', ms?: string): Promise<number>;
}

/** KEYS: record, env history, repo history, events. ARGV: json, version, score, id, event ('' = none), max length. 1 = created, 0 = exists. */
const CREATE_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if ARGV[5] ~= '' then redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[6], '*', 'e', ARGV[5]) end
redis.call('HSET', KEYS[1], 'json', ARGV[1], 'version', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
return 1
`;

/** KEYS: record, events. ARGV: expected version, json, next version, event ('' = none), max length. 1 = written, 0 = lost the race. */
const CAS_LUA = `
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then return 0 end
if ARGV[4] ~= '' then redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'e', ARGV[4]) end
redis.call('HSET', KEYS[1], 'json', ARGV[2], 'version', ARGV[3])
return 1
`;

/** KEYS: key. ARGV: expected value, 'del' | 'pexpire', ms. Acts only while the key holds the expected value. */
const IF_EQ_LUA = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == 'del' then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1
`;

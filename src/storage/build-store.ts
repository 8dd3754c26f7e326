import type { Redis } from 'ioredis';
import type { Build } from '../domain/build.js';
import type { BuildEvent } from '../domain/build-event.js';
import { isTerminal } from '../domain/status.js';
import { InfraError, UserError } from '../errors.js';
import { keys as makeKeys, type Keys } from './keys.js';

/**
 * Builds persisted in Redis. Each write is a compare-and-set on the record's version that
 * also appends the write's events to the event stream in the same Lua script, so a state
 * change and its events are never separated (nothing emitted for a lost write, nothing lost
 * for a kept one).
 *
 * Contract: `update` re-reads and re-applies `mutate` on conflict (up to 20 times), so
 * `mutate` must be a pure function of the build it is given. Returning `null` aborts the
 * write (no change, no events).
 *
 * The scripts are defined on the connection (`defineCommand`), so each write sends the
 * script's SHA (EVALSHA), not its text, and Redis does not hash the text again every time.
 */
export class BuildStore {
  private readonly k: Keys;
  private readonly scripts: BuildScripts;
  /** The JSON this store last read or wrote per build: `update`'s first guess (see there). */
  private readonly recent = new Map<string, string>();
  constructor(
    private readonly redis: Redis,
    prefix = 'bosun',
    private readonly eventsMaxLen = 200_000,
  ) {
    this.k = makeKeys(prefix);
    redis.defineCommand('bosunCreateBuild', { numberOfKeys: 5, lua: CREATE_LUA });
    redis.defineCommand('bosunUpdateBuild', { numberOfKeys: 3, lua: UPDATE_LUA });
    this.scripts = redis as unknown as BuildScripts;
  }

  async nextId(): Promise<string> {
    return String(await this.redis.incr(this.k.buildSeq));
  }

  async create(build: Build, events: BuildEvent[]): Promise<void> {
    const ok = await this.scripts.bosunCreateBuild(
      this.k.build(build.id),
      this.k.builds,
      this.k.activeBuilds,
      this.k.repoBuilds(build.repo),
      this.k.events,
      JSON.stringify(build),
      String(Date.parse(build.createdAt)),
      build.id,
      String(this.eventsMaxLen),
      ...events.map((e) => JSON.stringify(e)),
    );
    if (ok !== 1) throw new UserError('conflict', `build ${build.id} already exists`);
  }

  async get(id: string): Promise<Build | null> {
    const json = await this.redis.hget(this.k.build(id), 'json');
    if (!json) return null;
    this.remember(id, json);
    return JSON.parse(json) as Build;
  }

  /** Several builds in one round trip, in the order asked (null for one that does not exist). */
  async getMany(ids: readonly string[]): Promise<(Build | null)[]> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hget(this.k.build(id), 'json');
    const replies = (await pipeline.exec()) ?? [];
    return ids.map((id, i) => {
      const [err, json] = replies[i] ?? [null, null];
      if (err) throw err;
      if (typeof json !== 'string') return null;
      this.remember(id, json);
      return JSON.parse(json) as Build;
    });
  }

  async require(id: string): Promise<Build> {
    const build = await this.get(id);
    if (!build) throw new UserError('unknown_build', `no build #${id}`);
    return build;
  }

  /** Newest first. */
  /** Newest first; `offset` skips that many (pages of the web console's builds list). */
  async list(opts: { repo?: string; limit?: number; offset?: number } = {}): Promise<Build[]> {
    const key = opts.repo ? this.k.repoBuilds(opts.repo) : this.k.builds;
    const from = opts.offset ?? 0;
    const ids = await this.redis.zrevrange(key, from, from + (opts.limit ?? 20) - 1);
    const builds = await Promise.all(ids.map((id) => this.get(id)));
    return builds.filter((b): b is Build => b !== null);
  }

  async activeIds(): Promise<string[]> {
    return this.redis.smembers(this.k.activeBuilds);
  }

  /**
   * Applies `mutate` to a copy of the build and writes it if nobody else wrote in between.
   * Returns the written build, or the unchanged one if `mutate` returned null.
   *
   * The first attempt starts from the record this store last read or wrote for the build (no
   * read round trip); the compare-and-set checks that guess, and a lost one returns the
   * current record for the next attempt. A `null` from `mutate` on a guessed record is only
   * trusted after reading the record again.
   */
  async update(id: string, mutate: (build: Build) => BuildEvent[] | null): Promise<{ build: Build; changed: boolean }> {
    let json = this.recent.get(id);
    let fresh = json === undefined;
    json ??= await this.readJson(id);
    for (let attempt = 0; attempt < 20; attempt++) {
      const next = JSON.parse(json) as Build;
      const version = next.version;
      const events = mutate(next);
      if (events === null) {
        if (fresh) return { build: JSON.parse(json) as Build, changed: false };
        json = await this.readJson(id);
        fresh = true;
        continue;
      }
      next.version = version + 1;
      const nextJson = JSON.stringify(next);
      const reply = await this.scripts.bosunUpdateBuild(
        this.k.build(id),
        this.k.activeBuilds,
        this.k.events,
        String(version),
        nextJson,
        id,
        isTerminal(next.status) && next.status !== 'skipped' ? '0' : '1',
        String(this.eventsMaxLen),
        ...events.map((e) => JSON.stringify(e)),
      );
      if (reply === 1) {
        this.remember(id, nextJson);
        return { build: next, changed: true };
      }
      if (typeof reply !== 'string') {
        this.recent.delete(id);
        throw new UserError('unknown_build', `no build #${id}`);
      }
      // Someone else wrote first (or our guess was old): go again from what is there now.
      this.remember(id, reply);
      const wasGuess = !fresh;
      json = reply;
      fresh = true;
      if (!wasGuess) await new Promise((r) => setTimeout(r, Math.random() * 5 * (attempt + 1)));
    }
    throw new InfraError('conflict', `build ${id} kept changing under us; giving up after 20 attempts`);
  }

  private async readJson(id: string): Promise<string> {
    const json = await this.redis.hget(this.k.build(id), 'json');
    if (!json) throw new UserError('unknown_build', `no build #${id}`);
    this.remember(id, json);
    return json;
  }

  /** Keeps the record last seen for `id` as `update`'s first guess (the newest few hundred builds). */
  private remember(id: string, json: string): void {
    this.recent.delete(id);
    this.recent.set(id, json);
    if (this.recent.size > recentMax) this.recent.delete(this.recent.keys().next().value!);
  }

  /** Records a dedupe key; true the first time it is seen within the TTL (R2). */
  async claimOnce(key: string, ttlSec = 7 * 24 * 3600): Promise<boolean> {
    return (await this.redis.set(this.k.dedupe(key), '1', 'EX', ttlSec, 'NX')) === 'OK';
  }

  /** Read a dedupe key's value (e.g. the build it produced). */
  async dedupeValue(key: string): Promise<string | null> {
    return this.redis.get(this.k.dedupe(key));
  }

  async setDedupeValue(key: string, value: string, ttlSec = 7 * 24 * 3600): Promise<void> {
    await this.redis.set(this.k.dedupe(key), value, 'EX', ttlSec);
  }
}

/** How many builds' last-seen records `update` keeps as guesses. */
const recentMax = 256;

/** The scripts below, as commands on the connection. */
interface BuildScripts {
  bosunCreateBuild(...args: string[]): Promise<unknown>;
  bosunUpdateBuild(...args: string[]): Promise<unknown>;
}

/** KEYS: build, builds zset, active set, repo zset, events. ARGV: json, score, id, maxlen, events… */
const CREATE_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'json', ARGV[1], 'version', '0')
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[3])
for i = 5, #ARGV do
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[4], '*', 'e', ARGV[i])
end
return 1
`;

/**
 * KEYS: build, active set, events. ARGV: expected version, json, id, active(1/0), maxlen, events…
 * Returns 1 when written, the current JSON when the version differs, 0 when there is no build.
 */
const UPDATE_LUA = `
local v = redis.call('HGET', KEYS[1], 'version')
if v == false then return 0 end
if v ~= ARGV[1] then return redis.call('HGET', KEYS[1], 'json') end
redis.call('HSET', KEYS[1], 'json', ARGV[2], 'version', tostring(tonumber(v) + 1))
if ARGV[4] == '1' then redis.call('SADD', KEYS[2], ARGV[3]) else redis.call('SREM', KEYS[2], ARGV[3]) end
for i = 6, #ARGV do
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'e', ARGV[i])
end
return 1
`;

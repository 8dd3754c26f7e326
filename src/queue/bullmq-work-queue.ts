import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { WorkQueue } from '../pipeline/pipeline-deps.js';
import { keys as makeKeys } from '../storage/keys.js';
import { advanceQueueName, stageJobId, stageQueueName } from './queues.js';

/**
 * WorkQueue on BullMQ. Advance jobs are cheap and idempotent; stage jobs carry a
 * deterministic id so a stage attempt is queued once while its job is retained.
 * Infrastructure failures retry with backoff; user errors are made unrecoverable by the worker.
 */
export class BullmqWorkQueue implements WorkQueue {
  private readonly queues = new Map<string, Queue>();
  private readonly k;
  private readonly scripts: ClaimScripts;

  constructor(
    private readonly connection: Redis,
    private readonly prefix = 'bosun',
  ) {
    this.k = makeKeys(prefix);
    // Sent by SHA (EVALSHA) rather than as script text on every beat.
    connection.defineCommand('bosunClaimStage', { numberOfKeys: 2, lua: claimScript });
    connection.defineCommand('bosunReleaseStage', { numberOfKeys: 1, lua: releaseScript });
    this.scripts = connection as unknown as ClaimScripts;
  }

  queue(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.connection, prefix: `${this.prefix}:q` });
      q.on('error', () => undefined); // a lost connection is reported by RedisHealth; each call reports its own failure
      this.queues.set(name, q);
    }
    return q;
  }

  async advance(buildId: string): Promise<void> {
    await this.queue(advanceQueueName).add(
      'advance',
      { buildId },
      {
        attempts: 5,
        backoff: { type: 'exponential', delay: 500 },
        removeOnComplete: 1000,
        removeOnFail: 5000,
      },
    );
  }

  async runStage(buildId: string, stage: string, attempt: number, labels: string[]): Promise<void> {
    const data = { buildId, stage, attempt };
    await this.queue(stageQueueName(labels)).add('stage', data, {
      jobId: stageJobId(data),
      attempts: 3,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: 1000,
      removeOnFail: 5000,
    });
  }

  async heartbeat(buildId: string, stage: string): Promise<void> {
    await this.connection.set(this.k.heartbeat(buildId, stage), String(Date.now()), 'EX', heartbeatTtlSec);
  }

  async claimStage(buildId: string, stage: string, owner: string, ttlMs: number): Promise<boolean> {
    const held = await this.scripts.bosunClaimStage(
      this.k.stageClaim(buildId, stage),
      this.k.heartbeat(buildId, stage),
      owner,
      String(ttlMs),
      String(Date.now()),
      String(heartbeatTtlSec),
    );
    return held === 1;
  }

  async releaseStage(buildId: string, stage: string, owner: string): Promise<void> {
    await this.scripts.bosunReleaseStage(this.k.stageClaim(buildId, stage), owner);
  }

  async lastHeartbeat(buildId: string, stage: string): Promise<number | null> {
    const v = await this.connection.get(this.k.heartbeat(buildId, stage));
    return v ? Number(v) : null;
  }

  /** Workers connected to the stage queue for `labels` (BullMQ names their Redis connections). */
  async workersFor(labels: string[]): Promise<number> {
    return this.queue(stageQueueName(labels)).getWorkersCount();
  }

  /** BullMQ state of a stage job (`active`, `waiting`, `failed`, … or `missing`), in one script call. */
  async stageJobState(buildId: string, stage: string, attempt: number, labels: string[]): Promise<string> {
    const state = await this.queue(stageQueueName(labels)).getJobState(stageJobId({ buildId, stage, attempt }));
    return state === 'unknown' ? 'missing' : state;
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
  }
}

interface ClaimScripts {
  bosunClaimStage(claimKey: string, heartbeatKey: string, owner: string, ttlMs: string, now: string, heartbeatTtlSec: string): Promise<unknown>;
  bosunReleaseStage(key: string, owner: string): Promise<unknown>;
}

/** How long a heartbeat is kept (the watchdog calls a stage stale long before). */
const heartbeatTtlSec = 30;

/**
 * Take the claim when free, renew it when ours, and then record the heartbeat: 1 held, 0
 * another owner's. KEYS: claim, heartbeat. ARGV: owner, ttl ms, now (ms), heartbeat ttl s.
 */
const claimScript = `
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
  redis.call('SET', KEYS[2], ARGV[3], 'EX', tonumber(ARGV[4]))
  return 1
end
return 0`;

/** Delete the claim only when it is ours. */
const releaseScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

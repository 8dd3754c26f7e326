import type { DeployService } from '../../commands/deploy-service.js';
import type { Redis } from 'ioredis';
import type { ServerConfig } from '../config.js';
import type { Logger } from '../logger.js';
import { BuildStore } from '../storage/build-store.js';
import { AuditLog } from '../storage/audit-log.js';
import { EventBus } from '../events/event-bus.js';
import { LogStore } from '../logs/log-store.js';
import { Redactor } from '../logs/redactor.js';
import { BullmqWorkQueue } from '../queue/bullmq-work-queue.js';
import { RedisControlChannel } from '../queue/control-channel.js';
import { startEmbeddedRedis, type EmbeddedRedis } from '../storage/embedded-redis.js';
import { assertRedisSafe, connectRedis } from '../storage/redis-connection.js';
import type { PipelineDeps } from '../pipeline/pipeline-deps.js';
import type { GithubCommands } from '../../commands/command.js';
import { LeaseManager } from '../leases/lease-manager.js';
import { RedisHealth } from '../storage/redis-health.js';
import { bounded } from './bounded.js';
import { GitMirrors } from '../git/git-mirrors.js';
import { gitMirrorsDir } from '../pipeline/workspace.js';
import { PlanCache } from '../pipeline/plan-cache.js';

/** Each shutdown step waits at most this long (a Redis that is gone can hang BullMQ's close). */
export const closeStepTimeoutMs = 3000;

/** The stateful core shared by the server and workers: Redis and everything built on it. */
export interface Core {
  config: ServerConfig;
  log: Logger;
  redis: Redis;
  /** Whether Redis is reachable now; request paths consult it before touching Redis. */
  redisHealth: RedisHealth;
  /** How to reach Redis, for extra connections (BullMQ workers). */
  redisTarget: { url?: string; socketPath?: string };
  prefix: string;
  store: BuildStore;
  bus: EventBus;
  logs: LogStore;
  audit: AuditLog;
  queue: BullmqWorkQueue;
  control: RedisControlChannel;
  deps: PipelineDeps;
  /**
   * Services one front end offers every front end's commands, this instance's own: the GitHub
   * front end puts its merge/promote/ok-to-test service here while it runs (see
   * `commandServices`).
   */
  provided: { github?: GithubCommands | undefined; deploys?: DeployService | undefined };
  /** Redacts every configured secret from a whole string (chat text, status text). */
  redact(text: string): string;
  close(): Promise<void>;
}

/**
 * Connects to Redis (starting the embedded one when no URL is configured), refuses an unsafe
 * Redis (R23), and builds the stores. Nothing here starts workers or servers.
 */
export async function openCore(config: ServerConfig, log: Logger, opts: { prefix?: string } = {}): Promise<Core> {
  const prefix = opts.prefix ?? 'bosun';
  let embedded: EmbeddedRedis | null = null;
  let redisTarget: Core['redisTarget'];
  if (config.redisUrl) {
    redisTarget = { url: config.redisUrl };
  } else {
    embedded = await startEmbeddedRedis(config.dataDir, log.child({ unit: 'embedded-redis' }));
    redisTarget = { socketPath: embedded.socketPath };
    log.info({ socket: embedded.socketPath, owned: embedded.owned }, 'Embedded Redis started');
  }
  const redis = connectRedis(redisTarget);
  try {
    await assertRedisSafe(redis);
  } catch (err) {
    redis.disconnect();
    await embedded?.stop();
    throw err;
  }
  const redisHealth = new RedisHealth(redis, log.child({ unit: 'redis-health' }));
  redisHealth.start();
  const redactor = new Redactor(config.secrets);
  const redact = (text: string) => redactor.redact(text);
  const store = new BuildStore(redis, prefix);
  const bus = new EventBus(redis, log, prefix);
  const logs = new LogStore(redis, config.dataDir, prefix);
  const audit = new AuditLog(redis, prefix, redact);
  const queue = new BullmqWorkQueue(redis, prefix);
  const control = new RedisControlChannel(redis, prefix);
  // This instance's own caches: nothing of one Bosun is shared with another in the same process.
  const mirrors = new GitMirrors(gitMirrorsDir(config));
  const plans = new PlanCache();
  const deps: PipelineDeps = { config, store, bus, logs, audit, queue, control, log, secrets: config.secrets, mirrors, plans };
  if (Object.keys(config.pools).length > 0) deps.leases = new LeaseManager(redis, prefix, config, bus, audit, log.child({ unit: 'leases' }));
  return {
    config,
    log,
    redis,
    redisHealth,
    redisTarget,
    prefix,
    store,
    bus,
    logs,
    audit,
    queue,
    control,
    deps,
    redact,
    provided: {},
    async close() {
      redisHealth.stop();
      await bounded(log, 'event bus', () => bus.close(), closeStepTimeoutMs);
      await bounded(log, 'control channel', () => control.close(), closeStepTimeoutMs);
      await bounded(log, 'queues', () => queue.close(), closeStepTimeoutMs);
      redis.disconnect();
      await embedded?.stop();
    },
  };
}

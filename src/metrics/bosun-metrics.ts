import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import type { Core } from '../app/open-core.js';
import type { StoredEvent } from '../domain/build-event.js';
import { isTerminal } from '../domain/status.js';
import { advanceQueueName, stageQueueName } from '../queue/queues.js';
import { webhookPath } from '../github/webhook-route.js';

const durationBuckets = [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200];
/** Remembered "queued" / "waiting" times are bounded: an entry that never resolves is dropped first. */
const maxPendingTimes = 10_000;

/**
 * Bosun's Prometheus metrics, one registry per server process.
 *
 * Builds, steps, durations, queue waits and lease waits are counted from the durable event
 * stream, which every server process reads in full: two processes started together report the
 * same figures, and each counts from its own start (counters reset on restart, as Prometheus
 * expects). Queue depth and active builds are read from Redis at scrape time. GitHub webhook
 * ack latency and outgoing webhook attempts are what this process itself served and sent.
 */
export class BosunMetrics {
  readonly registry = new Registry();
  private readonly builds = new Counter({
    name: 'bosun_builds_total',
    help: 'Builds that ended, by outcome (a retried build counts once per attempt).',
    labelNames: ['status'],
    registers: [this.registry],
  });
  private readonly steps = new Counter({
    name: 'bosun_steps_total',
    help: 'Steps that ended, by outcome.',
    labelNames: ['status'],
    registers: [this.registry],
  });
  private readonly buildDuration = new Histogram({
    name: 'bosun_build_duration_seconds',
    help: 'Build run time, start to end, by outcome.',
    labelNames: ['status'],
    buckets: durationBuckets,
    registers: [this.registry],
  });
  private readonly stepDuration = new Histogram({
    name: 'bosun_step_duration_seconds',
    help: 'Step run time, by outcome (steps that ran).',
    labelNames: ['status'],
    buckets: durationBuckets,
    registers: [this.registry],
  });
  private readonly queueWait = new Histogram({
    name: 'bosun_stage_queue_wait_seconds',
    help: 'Time a stage waited in the queue before a worker started it.',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
    registers: [this.registry],
  });
  private readonly leaseWait = new Histogram({
    name: 'bosun_lease_wait_seconds',
    help: 'Time from asking for a lease to its grant (0 when granted at once), by pool.',
    labelNames: ['pool'],
    buckets: [0, 1, 5, 30, 60, 300, 900, 3600, 14400],
    registers: [this.registry],
  });
  private readonly ackLatency = new Histogram({
    name: 'bosun_github_webhook_ack_seconds',
    help: 'Time to answer a GitHub webhook delivery, by HTTP status (this process).',
    labelNames: ['code'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  private readonly webhookAttempts = new Counter({
    name: 'bosun_webhook_deliveries_total',
    help: 'Outgoing webhook delivery attempts, by endpoint and outcome (this process).',
    labelNames: ['webhook', 'outcome'],
    registers: [this.registry],
  });
  private readonly webhookLatency = new Histogram({
    name: 'bosun_webhook_delivery_seconds',
    help: 'Time an outgoing webhook receiver took to answer (this process).',
    labelNames: ['webhook'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly queuedAt = new Map<string, number>();
  private readonly leaseAskedAt = new Map<string, number>();
  private controller: AbortController | null = null;
  private loop: Promise<void> | null = null;

  constructor(private readonly core: Core) {
    const queues = [advanceQueueName, stageQueueName([]), ...(core.config.workerLabels.length ? [stageQueueName(core.config.workerLabels)] : [])];
    new Gauge({
      name: 'bosun_queue_jobs',
      help: 'Jobs in each BullMQ queue, by state (read at scrape time).',
      labelNames: ['queue', 'state'],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const name of queues) {
          const counts = await core.queue.queue(name).getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed');
          for (const [state, n] of Object.entries(counts)) this.set({ queue: name, state }, n);
        }
      },
    });
    new Gauge({
      name: 'bosun_builds_active',
      help: 'Builds not yet ended (read at scrape time).',
      registers: [this.registry],
      async collect() {
        this.set((await core.store.activeIds()).length);
      },
    });
  }

  /** Starts counting events from the stream's current end. */
  async start(): Promise<void> {
    const controller = new AbortController();
    this.controller = controller;
    const from = await this.core.bus.lastId();
    this.loop = (async () => {
      let cursor = from;
      while (!controller.signal.aborted) {
        try {
          for await (const event of this.core.bus.tail(cursor, controller.signal)) {
            cursor = event.id;
            await this.observe(event).catch((err: unknown) => this.core.log.warn({ err, eventId: event.id }, 'Metrics: event not counted'));
          }
        } catch (err) {
          if (controller.signal.aborted) break;
          this.core.log.warn({ err }, 'Metrics: event stream read failed; resuming');
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.controller?.abort();
    await this.loop;
  }

  /** Records one event; exposed for tests that feed events directly. */
  async observe(event: StoredEvent): Promise<void> {
    const at = Date.parse(event.at);
    switch (event.type) {
      case 'build.status': {
        if (!isTerminal(event.status)) return;
        // Read first, then count and time together: a scrape never sees one without the other.
        const build = await this.core.store.get(event.buildId);
        this.builds.inc({ status: event.status });
        const start = build?.startedAt ?? build?.createdAt;
        if (start) this.buildDuration.observe({ status: event.status }, seconds(Date.parse(build?.finishedAt ?? event.at) - Date.parse(start)));
        return;
      }
      case 'step.status': {
        if (!isTerminal(event.status)) return;
        const build = await this.core.store.get(event.buildId);
        this.steps.inc({ status: event.status });
        const step = build?.stages.find((s) => s.name === event.stage)?.steps.find((s) => s.name === event.step);
        if (step?.startedAt) this.stepDuration.observe({ status: event.status }, seconds(Date.parse(step.finishedAt ?? event.at) - Date.parse(step.startedAt)));
        return;
      }
      case 'stage.status': {
        const key = `${event.buildId}/${event.stage}`;
        if (event.status === 'queued') remember(this.queuedAt, key, at);
        else if (event.status === 'running') {
          const queued = this.queuedAt.get(key);
          this.queuedAt.delete(key);
          if (queued !== undefined) this.queueWait.observe(seconds(at - queued));
        } else if (isTerminal(event.status)) this.queuedAt.delete(key);
        return;
      }
      case 'lease.waiting':
        if (!this.leaseAskedAt.has(event.leaseId)) remember(this.leaseAskedAt, event.leaseId, at);
        return;
      case 'lease.granted': {
        const asked = this.leaseAskedAt.get(event.leaseId);
        this.leaseAskedAt.delete(event.leaseId);
        this.leaseWait.observe({ pool: event.pool }, asked === undefined ? 0 : seconds(at - asked));
        return;
      }
      case 'lease.released':
      case 'lease.expired':
        this.leaseAskedAt.delete(event.leaseId);
        return;
      default:
        return;
    }
  }

  observeWebhookAttempt(webhook: string, outcome: string, secondsTaken: number): void {
    this.webhookAttempts.inc({ webhook, outcome });
    this.webhookLatency.observe({ webhook }, secondsTaken);
  }

  /**
   * `GET /metrics` (Prometheus text format, open: aggregates only, docs/auth.md), and the GitHub
   * webhook ack timer: a root `onResponse` hook, so it must be registered before the GitHub
   * route's scope.
   */
  plugin(): (app: FastifyInstance) => void {
    return (app) => {
      app.addHook('onResponse', async (req, reply) => {
        if (req.routeOptions.url === webhookPath) this.ackLatency.observe({ code: String(reply.statusCode) }, reply.elapsedTime / 1000);
      });
      app.get('/metrics', async (_req, reply) => {
        const text = await this.registry.metrics();
        return reply.type(this.registry.contentType).header('cache-control', 'no-store').send(text);
      });
    };
  }
}

function seconds(ms: number): number {
  return Math.max(0, ms) / 1000;
}

function remember(map: Map<string, number>, key: string, at: number): void {
  if (map.size >= maxPendingTimes) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
  map.set(key, at);
}

import type Docker from 'dockerode';
import { BosunRig } from './bosun-rig.js';
import { bareIngestServer, flood } from './webhook-load.js';

export interface IngestSide {
  /** Requests per second of each round. */
  reqPerSec: number[];
  /** CPU of the server's process (this bench process) per request, µs, each round. */
  cpuUsPerReq: number[];
  statuses: Record<string, number>;
}

export interface IngestResult {
  connections: number;
  seconds: number;
  rounds: number;
  bosun: IngestSide;
  bare: IngestSide;
}

export const benchWebhookSecret = 'bench-webhook-secret-0123456789';
/** GitHub API calls of the bench's Bosun go nowhere: a closed port on loopback (the bench's repos are not GitHub's anyway). */
export const benchGithubConfig = { webhookSecrets: [benchWebhookSecret], apiUrl: 'http://127.0.0.1:9' };

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
export const meanRate = (s: IngestSide) => mean(s.reqPerSec);
export const meanCpuUs = (s: IngestSide) => mean(s.cpuUsPerReq);

/**
 * Signed duplicate-delivery ingest: one signed `push` delivery sent over and over (every reply
 * after the first is `duplicate`) by a separate node process on `connections` keep-alive
 * connections for `seconds`, to Bosun's `POST /github/webhooks` (server in this process, local
 * executor, its own redis-server) and to a bare verify-and-dedupe server (node:http + HMAC +
 * Redis SET NX, also in this process, same Redis), taking turns `rounds` times.
 */
export async function ingestPhase(
  docker: Docker,
  benchId: string,
  opts: { rounds: number; seconds: number; connections: number; progress: (text: string) => void },
): Promise<IngestResult> {
  const rig = await BosunRig.start('local', { docker, instanceId: `${benchId}-ingest`, workers: 1, config: { github: benchGithubConfig } });
  const redis = rig.harness.redis.client();
  const bare = await bareIngestServer(redis, benchWebhookSecret, `bench-${process.pid}`);
  const sides = { bosun: { reqPerSec: [], cpuUsPerReq: [], statuses: {} } as IngestSide, bare: { reqPerSec: [], cpuUsPerReq: [], statuses: {} } as IngestSide };
  try {
    const urls = { bosun: `${rig.harness.url}/github/webhooks`, bare: bare.url };
    opts.progress('ingest: warm-up (1 s each)');
    for (const url of Object.values(urls)) await flood({ url, secret: benchWebhookSecret, connections: opts.connections, seconds: 1 });
    for (let round = 1; round <= opts.rounds; round++) {
      for (const side of ['bare', 'bosun'] as const) {
        opts.progress(`ingest: round ${round}/${opts.rounds}, ${side}, ${opts.seconds} s on ${opts.connections} connections`);
        const cpu0 = process.cpuUsage();
        const r = await flood({ url: urls[side], secret: benchWebhookSecret, connections: opts.connections, seconds: opts.seconds });
        const cpu = process.cpuUsage(cpu0);
        const ok = r.statuses['202'] ?? 0;
        if (ok < r.requests * 0.99) throw new Error(`ingest: ${side} answered ${JSON.stringify(r.statuses)} to ${r.requests} requests`);
        sides[side].reqPerSec.push(r.requests / r.seconds);
        sides[side].cpuUsPerReq.push((cpu.user + cpu.system) / r.requests);
        for (const [k, v] of Object.entries(r.statuses)) sides[side].statuses[k] = (sides[side].statuses[k] ?? 0) + v;
      }
    }
    return { connections: opts.connections, seconds: opts.seconds, rounds: opts.rounds, ...sides };
  } finally {
    await bare.close();
    redis.disconnect();
    await rig.stop();
  }
}

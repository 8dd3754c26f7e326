/**
 * The bench's webhook sender, run as a SEPARATE node process (bench/webhook-load.ts starts it),
 * so that sending costs nothing in the process under test. It sends signed GitHub `push`
 * deliveries (X-Hub-Signature-256 over the exact bytes) to one URL on 127.0.0.1, over
 * keep-alive connections, and reports to its parent over IPC:
 *
 * - `ack`: one delivery at a time, each with a new delivery id, every `intervalMs`, until the
 *   parent sends `stop`; replies `{ latenciesMs, statuses }` (request sent → reply read).
 * - `flood`: `connections` loops sending the SAME delivery (one id, one body, signed once) for
 *   `seconds`; every reply after the first is a duplicate. Replies `{ requests, seconds, statuses }`.
 *
 * The repository in the payload is not configured on the server, so a delivery that gets past
 * the dedupe is ignored by the handler (no build, no GitHub call).
 */
import { createHmac, randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';

export interface AckOrder {
  mode: 'ack';
  url: string;
  secret: string;
  intervalMs: number;
}
export interface FloodOrder {
  mode: 'flood';
  url: string;
  secret: string;
  connections: number;
  seconds: number;
}
export type ClientOrder = AckOrder | FloodOrder;
export interface AckReport {
  latenciesMs: number[];
  statuses: Record<string, number>;
}
export interface FloodReport {
  requests: number;
  seconds: number;
  statuses: Record<string, number>;
}

export function pushBody(): string {
  return JSON.stringify({
    ref: 'refs/heads/master',
    after: 'a'.repeat(40),
    repository: { full_name: 'bench-elsewhere/not-configured', fork: false },
    sender: { id: 1, login: 'bench' },
  });
}

export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

function post(agent: Agent, url: URL, body: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function ack(order: AckOrder, stopped: () => boolean): Promise<AckReport> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const url = new URL(order.url);
  const body = pushBody();
  const headers = { 'x-github-event': 'push', 'x-hub-signature-256': signature(order.secret, body) };
  const latenciesMs: number[] = [];
  const statuses: Record<string, number> = {};
  while (!stopped()) {
    const t0 = performance.now();
    const status = await post(agent, url, body, { ...headers, 'x-github-delivery': randomUUID() }).catch(() => 0);
    latenciesMs.push(performance.now() - t0);
    statuses[status] = (statuses[status] ?? 0) + 1;
    const wait = order.intervalMs - (performance.now() - t0);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  agent.destroy();
  return { latenciesMs, statuses };
}

async function flood(order: FloodOrder): Promise<FloodReport> {
  const agent = new Agent({ keepAlive: true, maxSockets: order.connections });
  const url = new URL(order.url);
  const body = pushBody();
  const headers = { 'x-github-event': 'push', 'x-github-delivery': randomUUID(), 'x-hub-signature-256': signature(order.secret, body) };
  const statuses: Record<string, number> = {};
  let requests = 0;
  const t0 = performance.now();
  const end = t0 + order.seconds * 1000;
  const lane = async () => {
    while (performance.now() < end) {
      const status = await post(agent, url, body, headers).catch(() => 0);
      requests += 1;
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: order.connections }, lane));
  const seconds = (performance.now() - t0) / 1000;
  agent.destroy();
  return { requests, seconds, statuses };
}

if (process.send) {
  let stop = false;
  process.on('message', (m: unknown) => {
    if (m === 'stop') stop = true;
    else if (typeof m === 'object' && m !== null && 'mode' in m) {
      const order = m as ClientOrder;
      const run = order.mode === 'ack' ? ack(order, () => stop) : flood(order);
      run.then(
        (report) => process.send!({ report }, () => process.disconnect()),
        (err: unknown) => process.send!({ error: String(err) }, () => process.disconnect()),
      );
    }
  });
  process.send('ready');
}

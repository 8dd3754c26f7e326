import { fork, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { compiled } from './paths.js';
import type { AckOrder, AckReport, ClientOrder, FloodOrder, FloodReport } from './webhook-client.js';

/** Starts bench/webhook-client in its own node process (compiled when the bench is) and hands it `order`. */
async function startClient(order: ClientOrder): Promise<{ child: ChildProcess; report: Promise<AckReport | FloodReport> }> {
  const file = fileURLToPath(new URL(compiled ? './webhook-client.js' : './webhook-client.ts', import.meta.url));
  const child = fork(file, [], { execArgv: compiled ? [] : ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const report = new Promise<AckReport | FloodReport>((resolve, reject) => {
    child.on('message', (m: unknown) => {
      if (m === 'ready') child.send(order);
      else if (typeof m === 'object' && m !== null && 'report' in m) resolve((m as { report: AckReport | FloodReport }).report);
      else if (typeof m === 'object' && m !== null && 'error' in m) reject(new Error(`webhook client: ${(m as { error: string }).error}`));
    });
    child.once('exit', (code) => reject(new Error(`webhook client exited with ${code} before reporting`)));
  });
  report.catch(() => undefined);
  return { child, report };
}

/** Sends deliveries one at a time from a separate process until `stop()`; returns each ack's latency. */
export async function ackSender(order: Omit<AckOrder, 'mode'>): Promise<{ stop(): Promise<AckReport> }> {
  const { child, report } = await startClient({ mode: 'ack', ...order });
  return {
    async stop() {
      child.send('stop');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      try {
        return (await report) as AckReport;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Floods `url` with one signed delivery (duplicates after the first) from a separate process. */
export async function flood(order: Omit<FloodOrder, 'mode'>): Promise<FloodReport> {
  const { child, report } = await startClient({ mode: 'flood', ...order });
  const timer = setTimeout(() => child.kill('SIGKILL'), (order.seconds + 60) * 1000);
  try {
    return (await report) as FloodReport;
  } finally {
    clearTimeout(timer);
  }
}

const signatureShape = /^sha256=[0-9a-f]{64}$/;

/**
 * The bare verify-and-dedupe server the ingest target compares Bosun with: node:http on
 * 127.0.0.1, reads the body, checks X-Hub-Signature-256 (HMAC-SHA256 over the raw bytes,
 * timingSafeEqual), claims the delivery id with Redis SET NX EX (7 days, as Bosun's inbox does)
 * and answers 202 `{ queued }` or `{ duplicate }`. Nothing else: no routing framework, no schema,
 * no queue.
 */
export async function bareIngestServer(redis: Redis, secret: string, prefix: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const header = req.headers['x-hub-signature-256'];
        const id = req.headers['x-github-delivery'];
        const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
        if (typeof header !== 'string' || !signatureShape.test(header) || !timingSafeEqual(Buffer.from(header), expected)) {
          res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"signature_invalid"}');
          return;
        }
        if (typeof id !== 'string') {
          res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"headers_missing"}');
          return;
        }
        const fresh = (await redis.set(`${prefix}:bare:delivery:${id}`, '1', 'EX', 7 * 24 * 3600, 'NX')) === 'OK';
        res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify(fresh ? { queued: id } : { duplicate: id }));
      })().catch(() => res.writeHead(500).end());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}/github/webhooks`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

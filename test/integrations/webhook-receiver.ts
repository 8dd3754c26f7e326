import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { Webhook } from 'standardwebhooks';

/** One request as the receiver saw it, and whether the Standard Webhooks library verified it. */
export interface Received {
  id: string;
  headers: IncomingHttpHeaders;
  body: string;
  verified: boolean;
  /** The parsed body when verified. */
  payload?: { id: string; type: string; timestamp: string; data: Record<string, unknown> };
}

/**
 * A real HTTP webhook receiver on 127.0.0.1 that checks every request with the Standard
 * Webhooks reference library (`standardwebhooks`), and records it. `answer` is the status it
 * replies with (500 for a broken receiver). It can be stopped and started again on the same port.
 */
export class WebhookReceiver {
  readonly received: Received[] = [];
  answer = 200;
  private server: Server | null = null;
  private readonly verifier: Webhook;

  constructor(
    readonly secret: string,
    readonly port: number,
  ) {
    this.verifier = new Webhook(secret);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
        let payload: Received['payload'];
        try {
          payload = this.verifier.verify(body, headers) as Received['payload'];
        } catch {
          payload = undefined;
        }
        this.received.push({
          id: String(req.headers['webhook-id']),
          headers: req.headers,
          body,
          verified: payload !== undefined,
          ...(payload ? { payload } : {}),
        });
        res.writeHead(payload ? this.answer : 401, { 'content-type': 'text/plain' }).end(payload ? 'ok' : 'bad signature');
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Unique deliveries by `webhook-id`, in order of first arrival. */
  unique(): Received[] {
    const seen = new Set<string>();
    return this.received.filter((r) => (seen.has(r.id) ? false : (seen.add(r.id), true)));
  }
}

export const testWebhookSecret = `whsec_${Buffer.from('bosun-test-webhook-secret-32-bytes!!').toString('base64')}`;

export async function until<T>(fn: () => T | Promise<T>, pred: (v: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await fn();
  while (!pred(last)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)?.slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 100));
    last = await fn();
  }
  return last;
}

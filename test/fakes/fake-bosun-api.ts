import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Reply } from '../../commands/command.js';
import type { Build } from '../../src/domain/build.js';

/**
 * A stand-in for Bosun's HTTP API as the CLI uses it, on 127.0.0.1: the command endpoint
 * (replies from a function, every request recorded with its token), builds by id, and step
 * logs raw or as server-sent events. Lets the CLI's output be asserted line by line.
 */
export class FakeBosunApi {
  readonly commands: { text: string; authorization: string | undefined }[] = [];
  readonly builds = new Map<string, Build>();
  readonly logs = new Map<string, string[]>();
  /** When set, /api/commands refuses any other bearer token with 401, as the real server does. */
  token: string | undefined;
  reply: (text: string) => Reply = (text) => ({ text: `ran: ${text}`, kind: 'ok' });
  private server: Server | undefined;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://x');
        const send = (status: number, value: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(value));
        };
        if (req.method === 'POST' && url.pathname === '/api/commands') {
          if (this.token && req.headers.authorization !== `Bearer ${this.token}`) {
            return send(401, { error: 'unauthorized', message: 'a valid API token is required (Authorization: Bearer …)' });
          }
          const { text } = JSON.parse(body) as { text: string };
          this.commands.push({ text, authorization: req.headers.authorization });
          return send(200, this.reply(text));
        }
        const log = /^\/api\/builds\/(\d+)\/logs\/([^/]+)\/([^/]+)$/.exec(url.pathname);
        if (log) {
          const lines = this.logs.get(`${log[1]}/${decodeURIComponent(log[2]!)}/${decodeURIComponent(log[3]!)}`) ?? [];
          if (url.searchParams.get('follow') !== '1') {
            res.writeHead(200, { 'content-type': 'text/plain' });
            return res.end(lines.map((l) => `${l}\n`).join(''));
          }
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(': bosun\n\n');
          lines.forEach((text, i) => res.write(`event: line\ndata: ${JSON.stringify({ n: i + 1, text })}\n\n`));
          return res.end('event: end\ndata: {}\n\n');
        }
        const build = /^\/api\/builds\/(\d+)$/.exec(url.pathname);
        if (build) {
          const found = this.builds.get(build[1]!);
          return found ? send(200, { build: found }) : send(404, { error: 'unknown_build', message: `no build #${build[1]}` });
        }
        send(404, { error: 'not_found', message: 'not found' });
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

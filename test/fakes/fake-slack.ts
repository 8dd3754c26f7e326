import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

/** One Web API call as the fake received it. */
export interface SlackCall {
  method: string;
  args: Record<string, any>;
  at: number;
  status: number;
}

/** A message as the channel shows it now (after every chat.update). */
export interface FakeMessage {
  channel: string;
  ts: string;
  thread_ts?: string;
  text: string;
  blocks?: any[];
  edits: number;
}

export interface FakeFile {
  id: string;
  filename: string;
  title?: string;
  content: string;
  channel?: string;
  thread_ts?: string;
}

/** An ack the app sent for an envelope, with how long it took. */
export interface EnvelopeAck {
  payload?: unknown;
  ms: number;
}

/**
 * A local Slack: the Web API methods Bosun calls over real HTTP (form or JSON bodies, bearer
 * token), the file-upload URL, and Socket Mode over a real WebSocket (hello, envelopes,
 * acks by envelope_id). It records every call and keeps the channel's current state, so
 * tests assert on what a person would see.
 */
export class FakeSlack {
  readonly calls: SlackCall[] = [];
  readonly messages = new Map<string, FakeMessage>();
  readonly ephemerals: { channel: string; user: string; text: string }[] = [];
  readonly files: FakeFile[] = [];
  readonly dms = new Map<string, string>();
  /** `chat.update` calls that changed nothing a reader sees (same text and blocks as before). */
  identicalUpdates = 0;
  url = '';
  private server!: Server;
  private wss!: WebSocketServer;
  private sockets = new Set<WebSocket>();
  private seq = 0;
  private envelopeSeq = 0;
  private readonly pendingAcks = new Map<string, (ack: EnvelopeAck) => void>();
  private readonly failures: { method: string; status: number; retryAfter?: number; match?: (args: Record<string, any>) => boolean }[] = [];
  private connectedWaiters: (() => void)[] = [];

  static async start(): Promise<FakeSlack> {
    const fake = new FakeSlack();
    fake.server = createServer((req, res) => void fake.route(req, res));
    fake.wss = new WebSocketServer({ server: fake.server, path: '/socket' });
    fake.wss.on('connection', (ws) => fake.onSocket(ws));
    await new Promise<void>((r) => fake.server.listen(0, '127.0.0.1', r));
    fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  /** The base URL for Bolt's `slackApiUrl` (ends with `/`). */
  get apiUrl(): string {
    return `${this.url}/api/`;
  }

  /** The next call of `method` (matching `match`, if given) fails with this status (429 with Retry-After by default). */
  failNext(method: string, status = 429, retryAfter = 1, match?: (args: Record<string, any>) => boolean): void {
    this.failures.push({ method, status, retryAfter, ...(match ? { match } : {}) });
  }

  callsOf(method: string): SlackCall[] {
    return this.calls.filter((c) => c.method === method && c.status === 200);
  }

  /** Root messages of a channel in order, each with its thread replies and files. */
  channel(channel: string): { root: FakeMessage; replies: FakeMessage[]; files: FakeFile[] }[] {
    const all = [...this.messages.values()].filter((m) => m.channel === channel);
    return all
      .filter((m) => !m.thread_ts)
      .map((root) => ({
        root,
        replies: all.filter((m) => m.thread_ts === root.ts),
        files: this.files.filter((f) => f.channel === channel && f.thread_ts === root.ts),
      }));
  }

  /** Text of a message including its blocks' text, as a reader sees it. */
  static plain(m: { text: string; blocks?: any[] }): string {
    const parts = [m.text];
    for (const b of m.blocks ?? []) {
      if (b.text?.text) parts.push(b.text.text);
      for (const e of b.elements ?? []) if (e.text) parts.push(typeof e.text === 'string' ? e.text : e.text.text);
    }
    return parts.join('\n');
  }

  async waitFor<T>(pred: () => T | undefined | null | false, timeoutMs = 30_000, what = 'condition'): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const v = pred();
      if (v) return v;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`fake Slack: timed out waiting for ${what}`);
  }

  /** Resolves once an app has a Socket Mode connection. */
  async connected(): Promise<void> {
    if (this.sockets.size > 0) return;
    await new Promise<void>((r) => this.connectedWaiters.push(r));
  }

  /** Sends a Socket Mode envelope and resolves with the app's ack. */
  async sendEnvelope(type: 'slash_commands' | 'events_api' | 'interactive', payload: Record<string, unknown>): Promise<EnvelopeAck> {
    const ws = [...this.sockets][0];
    if (!ws) throw new Error('fake Slack: no Socket Mode connection');
    const envelope_id = `env-${++this.envelopeSeq}`;
    const started = Date.now();
    const acked = new Promise<EnvelopeAck>((resolve) => this.pendingAcks.set(envelope_id, resolve));
    ws.send(JSON.stringify({ envelope_id, type, payload, accepts_response_payload: type !== 'events_api', retry_attempt: 0, retry_reason: '' }));
    const ack = await acked;
    return { ...ack, ms: Date.now() - started };
  }

  async stop(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    await new Promise<void>((r) => this.wss.close(() => r()));
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private onSocket(ws: WebSocket): void {
    this.sockets.add(ws);
    ws.on('close', () => this.sockets.delete(ws));
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as { envelope_id?: string; payload?: unknown };
      const resolve = msg.envelope_id ? this.pendingAcks.get(msg.envelope_id) : undefined;
      if (msg.envelope_id) this.pendingAcks.delete(msg.envelope_id);
      resolve?.({ payload: msg.payload, ms: 0 });
    });
    ws.send(JSON.stringify({ type: 'hello', num_connections: 1, debug_info: { host: 'fake' }, connection_info: { app_id: 'A1' } }));
    for (const w of this.connectedWaiters.splice(0)) w();
  }

  private nextTs(): string {
    return `${Math.floor(Date.now() / 1000)}.${String(++this.seq).padStart(6, '0')}`;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', this.url);
    if (url.pathname.startsWith('/upload/')) {
      const file = this.files.find((f) => f.id === url.pathname.slice('/upload/'.length));
      if (file) file.content = raw;
      res.writeHead(200, { 'content-type': 'text/plain' }).end('OK');
      return;
    }
    const method = url.pathname.replace(/^\/api\//, '');
    const args = parseArgs(raw, req.headers['content-type'] ?? '');
    const failure = this.failures.findIndex((f) => f.method === method && (!f.match || f.match(args)));
    if (failure >= 0) {
      const f = this.failures.splice(failure, 1)[0]!;
      this.calls.push({ method, args, at: Date.now(), status: f.status });
      res.writeHead(f.status, { 'content-type': 'application/json', ...(f.retryAfter ? { 'retry-after': String(f.retryAfter) } : {}) });
      res.end(JSON.stringify({ ok: false, error: 'ratelimited' }));
      return;
    }
    this.calls.push({ method, args, at: Date.now(), status: 200 });
    const body = this.answer(method, args);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }

  private answer(method: string, a: Record<string, any>): Record<string, unknown> {
    switch (method) {
      case 'auth.test':
        return { ok: true, user_id: 'UBOT', bot_id: 'BBOT', team_id: 'T1', user: 'bosun', team: 'Test' };
      case 'apps.connections.open':
        return { ok: true, url: `${this.url.replace('http', 'ws')}/socket` };
      case 'chat.postMessage': {
        const ts = this.nextTs();
        this.messages.set(ts, { channel: a.channel, ts, ...(a.thread_ts ? { thread_ts: a.thread_ts } : {}), text: a.text ?? '', blocks: a.blocks, edits: 0 });
        return { ok: true, channel: a.channel, ts, message: { text: a.text } };
      }
      case 'chat.update': {
        const m = this.messages.get(a.ts);
        if (!m || m.channel !== a.channel) return { ok: false, error: 'message_not_found' };
        if ((a.text ?? m.text) === m.text && JSON.stringify(a.blocks ?? null) === JSON.stringify(m.blocks ?? null)) this.identicalUpdates++;
        m.text = a.text ?? m.text;
        m.blocks = a.blocks;
        m.edits++;
        return { ok: true, channel: a.channel, ts: a.ts };
      }
      case 'chat.postEphemeral':
        this.ephemerals.push({ channel: a.channel, user: a.user, text: a.text ?? '' });
        return { ok: true, message_ts: this.nextTs() };
      case 'conversations.open': {
        const id = this.dms.get(a.users) ?? `D${a.users}`;
        this.dms.set(a.users, id);
        return { ok: true, channel: { id } };
      }
      case 'files.getUploadURLExternal': {
        const id = `F${++this.seq}`;
        this.files.push({ id, filename: a.filename, content: '' });
        return { ok: true, upload_url: `${this.url}/upload/${id}`, file_id: id };
      }
      case 'files.completeUploadExternal': {
        const list = (typeof a.files === 'string' ? JSON.parse(a.files) : a.files) as { id: string; title?: string }[];
        for (const f of list) {
          const file = this.files.find((x) => x.id === f.id);
          if (!file) continue;
          if (f.title) file.title = f.title;
          file.channel = a.channel_id;
          file.thread_ts = a.thread_ts;
        }
        return { ok: true, files: list.map((f) => ({ id: f.id })) };
      }
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }
}

function parseArgs(raw: string, contentType: string): Record<string, any> {
  if (!raw) return {};
  if (contentType.includes('application/json')) return JSON.parse(raw) as Record<string, any>;
  const out: Record<string, any> = {};
  for (const [k, v] of new URLSearchParams(raw)) {
    out[k] = k === 'blocks' || k === 'attachments' ? JSON.parse(v) : v;
  }
  return out;
}

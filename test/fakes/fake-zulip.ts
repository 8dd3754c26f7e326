import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One REST call as the fake received it. */
export interface ZulipCall {
  method: string;
  path: string;
  params: Record<string, string>;
  at: number;
  status: number;
}

export interface FakeUser {
  user_id: number;
  full_name: string;
  email: string;
}

/** A message as the organisation shows it now (after every edit). */
export interface FakeZulipMessage {
  id: number;
  sender_id: number;
  type: 'stream' | 'private';
  stream?: string;
  topic: string;
  /** DM recipients (user ids, sender included). */
  to: number[];
  content: string;
  edits: number;
  timestamp: number;
  /** When it was posted, in ms (for the edit time limit). */
  postedAt?: number;
  reactions: { user_id: number; emoji_name: string; emoji_code: string; reaction_type: string }[];
}

interface Queue {
  id: string;
  userId: number;
  events: Record<string, unknown>[];
  nextEventId: number;
  waiting?: { res: ServerResponse; timer: NodeJS.Timeout };
}

/** Emoji the fake knows (Zulip names → code points). */
const emojiCodes: Record<string, string> = { check: '2705', cross_mark: '274c', '+1': '1f44d', octopus: '1f419', heavy_check_mark: '2714' };

/**
 * A local Zulip speaking the REST endpoints Bosun uses, over real HTTP with HTTP Basic auth
 * (bot email + API key) and multipart or form-encoded parameters, with Zulip's answer shapes
 * (`result`/`msg`/`code`, event queues with `queue_id`/`last_event_id`, heartbeats,
 * `BAD_EVENT_QUEUE_ID`, 429 `RATE_LIMIT_HIT` with `retry-after`). It records every call and
 * keeps the organisation's current state (streams, topics, DMs, edits, reactions), so tests
 * assert on what a person would see. People act through `say` and `react`.
 */
export class FakeZulip {
  readonly calls: ZulipCall[] = [];
  readonly messages = new Map<number, FakeZulipMessage>();
  readonly users = new Map<number, FakeUser>();
  readonly bot: FakeUser = { user_id: 100, full_name: 'Bosun', email: 'bosun-bot@zulip.test' };
  readonly apiKey = 'fake-zulip-api-key-0123456789';
  url = '';
  /** How long a long-poll waits before a heartbeat (Zulip: ~50 s). */
  heartbeatMs = 1000;
  /** Decides per call whether to answer 429 (with this Retry-After in seconds), for 429 storms. */
  rateLimit: ((call: { method: string; path: string; params: Record<string, string> }) => number | null) | null = null;
  /** The realm's edit time limit: messages older than this many ms cannot be edited (null: no limit). */
  editLimitMs: number | null = null;
  /** The next this many event polls answer 502 with an HTML page (a proxy in trouble). */
  failPolls = 0;
  private readonly queues = new Map<string, Queue>();
  private server!: Server;
  private nextMessageId = 1000;

  static async start(): Promise<FakeZulip> {
    const fake = new FakeZulip();
    fake.users.set(fake.bot.user_id, fake.bot);
    fake.server = createServer(
      (req, res) =>
        void fake.route(req, res).catch((err: unknown) => {
          res.writeHead(500).end(JSON.stringify({ result: 'error', msg: String(err) }));
        }),
    );
    await new Promise<void>((r) => fake.server.listen(0, '127.0.0.1', r));
    fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  /** The realm's host, as it appears in actor ids (`zulip:<host>/<id>`). */
  get host(): string {
    return new URL(this.url).host;
  }

  addUser(user_id: number, full_name: string): FakeUser {
    const u = { user_id, full_name, email: `user${user_id}@zulip.test` };
    this.users.set(user_id, u);
    return u;
  }

  actorId(userId: number): string {
    return `zulip:${this.host}/${userId}`;
  }

  /** A person posts a message: in a stream topic, or as a DM to the bot. Returns its id. */
  say(userId: number, where: { stream: string; topic: string } | 'dm', content: string): number {
    const id = this.nextMessageId++;
    const m: FakeZulipMessage =
      where === 'dm'
        ? {
            id,
            sender_id: userId,
            type: 'private',
            topic: '',
            to: [userId, this.bot.user_id],
            content,
            edits: 0,
            timestamp: Math.floor(Date.now() / 1000),
            reactions: [],
          }
        : {
            id,
            sender_id: userId,
            type: 'stream',
            stream: where.stream,
            topic: where.topic,
            to: [],
            content,
            edits: 0,
            timestamp: Math.floor(Date.now() / 1000),
            reactions: [],
          };
    this.messages.set(id, m);
    this.fanOut(m);
    return id;
  }

  /** A person adds an emoji reaction to a message. */
  react(userId: number, messageId: number, emojiName: string): void {
    const m = this.messages.get(messageId);
    if (!m) throw new Error(`no message ${messageId}`);
    this.addReaction(m, userId, emojiName);
  }

  /** Every event queue disappears (as when Zulip garbage-collects an idle queue). */
  expireQueues(): void {
    for (const q of this.queues.values()) this.finishPoll(q, []);
    this.queues.clear();
  }

  get queueCount(): number {
    return this.queues.size;
  }

  /** Long-polls being held open right now. */
  get pollsWaiting(): number {
    return [...this.queues.values()].filter((q) => q.waiting).length;
  }

  /** The messages of a stream topic, oldest first. */
  topic(stream: string, topic: string): FakeZulipMessage[] {
    return [...this.messages.values()].filter((m) => m.type === 'stream' && m.stream === stream && m.topic === topic);
  }

  /** Topics of a stream, in order of their first message. */
  topics(stream: string): string[] {
    return [...new Set([...this.messages.values()].filter((m) => m.stream === stream).map((m) => m.topic))];
  }

  /** DMs between the bot and a user, oldest first. */
  dms(userId: number): FakeZulipMessage[] {
    return [...this.messages.values()].filter((m) => m.type === 'private' && m.to.includes(userId) && m.to.includes(this.bot.user_id));
  }

  /** Successful calls of a method and path pattern. */
  callsOf(method: string, path: RegExp): ZulipCall[] {
    return this.calls.filter((c) => c.method === method && path.test(c.path) && c.status === 200);
  }

  async waitFor<T>(pred: () => T | undefined | null | false, timeoutMs = 30_000, what = 'condition'): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const v = pred();
      if (v) return v;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`fake Zulip: timed out waiting for ${what}`);
  }

  async stop(): Promise<void> {
    for (const q of this.queues.values()) if (q.waiting) clearTimeout(q.waiting.timer);
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** The message as the Zulip API returns it (GET /messages, message events) for `viewer`. */
  apiMessage(m: FakeZulipMessage, viewer: number): Record<string, unknown> {
    const sender = this.users.get(m.sender_id);
    return {
      id: m.id,
      sender_id: m.sender_id,
      sender_full_name: sender?.full_name ?? '',
      sender_email: sender?.email ?? '',
      sender_realm_str: 'zulip',
      avatar_url: null,
      client: 'website',
      content: m.content,
      content_type: 'text/x-markdown',
      is_me_message: false,
      type: m.type,
      recipient_id: m.type === 'stream' ? 10 : 20 + m.to.reduce((a, b) => a + b, 0),
      ...(m.type === 'stream'
        ? { display_recipient: m.stream, stream_id: 10, subject: m.topic }
        : {
            display_recipient: m.to.map((id) => ({
              id,
              email: this.users.get(id)?.email ?? '',
              full_name: this.users.get(id)?.full_name ?? '',
              is_mirror_dummy: false,
            })),
            subject: '',
          }),
      timestamp: m.timestamp,
      topic_links: [],
      submessages: [],
      reactions: m.reactions.map((r) => ({ ...r })),
      flags: this.flagsFor(m, viewer),
    };
  }

  private flagsFor(m: FakeZulipMessage, viewer: number): string[] {
    const me = this.users.get(viewer);
    const flags: string[] = [];
    if (m.sender_id === viewer) flags.push('read');
    if (me && (m.content.includes(`@**${me.full_name}**`) || m.content.includes(`@**${me.full_name}|${viewer}**`))) flags.push('mentioned');
    if (/@\*\*(all|everyone|stream|channel)\*\*/.test(m.content)) flags.push('wildcard_mentioned');
    return flags;
  }

  /** Who receives a message event: the bot for every stream (subscribed to all) and for DMs it is in. */
  private fanOut(m: FakeZulipMessage): void {
    for (const q of this.queues.values()) {
      if (m.type === 'private' && !m.to.includes(q.userId)) continue;
      this.push(q, { type: 'message', message: this.apiMessage(m, q.userId), flags: this.flagsFor(m, q.userId) });
    }
  }

  private addReaction(m: FakeZulipMessage, userId: number, emojiName: string): boolean {
    const code = emojiCodes[emojiName];
    if (!code) return false;
    if (m.reactions.some((r) => r.user_id === userId && r.emoji_code === code)) return true;
    m.reactions.push({ user_id: userId, emoji_name: emojiName, emoji_code: code, reaction_type: 'unicode_emoji' });
    const u = this.users.get(userId);
    for (const q of this.queues.values()) {
      this.push(q, {
        type: 'reaction',
        op: 'add',
        user_id: userId,
        user: { user_id: userId, email: u?.email ?? '', full_name: u?.full_name ?? '' },
        message_id: m.id,
        emoji_name: emojiName,
        emoji_code: code,
        reaction_type: 'unicode_emoji',
      });
    }
    return true;
  }

  private push(q: Queue, event: Record<string, unknown>): void {
    q.events.push({ ...event, id: q.nextEventId++ });
    if (q.waiting) this.finishPoll(q, q.events);
  }

  private finishPoll(q: Queue, events: Record<string, unknown>[]): void {
    const w = q.waiting;
    if (!w) return;
    q.waiting = undefined;
    clearTimeout(w.timer);
    this.json(w.res, 200, { result: 'success', msg: '', events, queue_id: q.id });
  }

  private json(res: ServerResponse, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void {
    if (res.writableEnded) return;
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', this.url);
    const method = req.method ?? 'GET';
    const params: Record<string, string> = Object.fromEntries(url.searchParams);
    if (chunks.length > 0) {
      const form = await new Request(url, {
        method: 'POST',
        headers: { 'content-type': req.headers['content-type'] ?? '' },
        body: Buffer.concat(chunks),
      }).formData();
      for (const [k, v] of form) params[k] = typeof v === 'string' ? v : '';
    }
    const path = url.pathname;
    const call: ZulipCall = { method, path, params, at: Date.now(), status: 200 };
    this.calls.push(call);
    const error = (status: number, code: string, msg: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) => {
      call.status = status;
      this.json(res, status, { result: 'error', msg, code, ...extra }, headers);
    };
    const auth = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const [email, key] = auth ? Buffer.from(auth, 'base64').toString().split(':') : [];
    if (email !== this.bot.email || key !== this.apiKey) return error(401, 'UNAUTHORIZED', 'Invalid API key');
    const waitSec = path !== '/api/v1/events' ? this.rateLimit?.({ method, path, params }) : null;
    if (waitSec)
      return error(
        429,
        'RATE_LIMIT_HIT',
        'API usage exceeded rate limit',
        { 'retry-after': waitSec },
        { 'retry-after': String(waitSec), 'x-ratelimit-remaining': '0' },
      );
    const ok = (body: Record<string, unknown> = {}) => this.json(res, 200, { result: 'success', msg: '', ...body });
    const me = this.bot.user_id;

    if (method === 'GET' && path === '/api/v1/users/me')
      return ok({ user_id: me, email: this.bot.email, full_name: this.bot.full_name, is_bot: true, is_admin: false, role: 400 });
    if (method === 'POST' && path === '/api/v1/register') {
      if (params.apply_markdown !== 'false') return error(400, 'BAD_REQUEST', 'Bosun must ask for raw markdown (apply_markdown=false)');
      const types = JSON.parse(params.event_types ?? '[]') as string[];
      if (!types.includes('message')) return error(400, 'BAD_REQUEST', 'expected message events');
      const q: Queue = { id: randomUUID(), userId: me, events: [], nextEventId: 0 };
      this.queues.set(q.id, q);
      return ok({
        queue_id: q.id,
        last_event_id: -1,
        zulip_version: '10.0',
        zulip_feature_level: 300,
        event_queue_longpoll_timeout_seconds: 90,
        max_message_id: this.nextMessageId - 1,
      });
    }
    if (path === '/api/v1/events' && method === 'GET' && this.failPolls > 0) {
      this.failPolls--;
      call.status = 502;
      res.writeHead(502, { 'content-type': 'text/html' }).end('<html><body>502 Bad Gateway</body></html>');
      return;
    }
    if (path === '/api/v1/events') {
      const q = this.queues.get(params.queue_id ?? '');
      if (!q) return error(400, 'BAD_EVENT_QUEUE_ID', `Bad event queue ID: ${params.queue_id ?? ''}`, { queue_id: params.queue_id ?? '' });
      if (method === 'DELETE') {
        this.finishPoll(q, []);
        this.queues.delete(q.id);
        return ok();
      }
      const last = Number(params.last_event_id ?? -1);
      q.events = q.events.filter((e) => (e.id as number) > last);
      if (q.waiting) this.finishPoll(q, []); // a newer poll on the same queue replaces the older
      if (q.events.length > 0 || params.dont_block === 'true') return ok({ events: q.events, queue_id: q.id });
      const timer = setTimeout(() => this.push(q, { type: 'heartbeat' }), this.heartbeatMs);
      q.waiting = { res, timer };
      res.on('close', () => {
        if (q.waiting?.res === res) {
          clearTimeout(q.waiting.timer);
          q.waiting = undefined;
        }
      });
      return;
    }
    if (method === 'POST' && path === '/api/v1/messages') {
      const content = params.content ?? '';
      if (!content) return error(400, 'REQUEST_VARIABLE_MISSING', "Missing 'content' argument", { var_name: 'content' });
      if (content.length > 10_000) return error(400, 'BAD_REQUEST', 'Message too long');
      const id = this.nextMessageId++;
      let m: FakeZulipMessage;
      if (params.type === 'stream' || params.type === 'channel') {
        const topic = params.topic ?? params.subject ?? '';
        if (!topic || topic.length > 60) return error(400, 'BAD_REQUEST', 'Invalid topic');
        m = {
          id,
          sender_id: me,
          type: 'stream',
          stream: params.to ?? '',
          topic,
          to: [],
          content,
          edits: 0,
          timestamp: Math.floor(Date.now() / 1000),
          reactions: [],
        };
      } else if (params.type === 'private' || params.type === 'direct') {
        const to = JSON.parse(params.to ?? '[]') as number[];
        if (!Array.isArray(to) || to.some((u) => !this.users.has(u))) return error(400, 'BAD_REQUEST', 'Invalid user ID');
        m = {
          id,
          sender_id: me,
          type: 'private',
          topic: '',
          to: [...new Set([me, ...to])],
          content,
          edits: 0,
          timestamp: Math.floor(Date.now() / 1000),
          reactions: [],
        };
      } else {
        return error(400, 'BAD_REQUEST', 'Invalid message type');
      }
      m.postedAt = Date.now();
      this.messages.set(id, m);
      this.fanOut(m);
      return ok({ id, automatic_new_visibility_policy: null });
    }
    if (method === 'GET' && path === '/api/v1/messages') {
      const anchor = Number(params.anchor);
      const after = Number(params.num_after ?? 0);
      const visible = [...this.messages.values()]
        .filter((m) => m.type === 'stream' || m.to.includes(me))
        .filter((m) => m.id >= anchor)
        .slice(0, after + 1);
      return ok({
        messages: visible.map((m) => this.apiMessage(m, me)),
        anchor,
        found_newest: true,
        found_oldest: false,
        found_anchor: visible[0]?.id === anchor,
        history_limited: false,
      });
    }
    const edit = /^\/api\/v1\/messages\/(\d+)$/.exec(path);
    if (edit && method === 'GET') {
      const m = this.messages.get(Number(edit[1]));
      if (!m || (m.type === 'private' && !m.to.includes(me))) return error(400, 'BAD_REQUEST', 'Invalid message(s)');
      return ok({ message: this.apiMessage(m, me), raw_content: m.content });
    }
    if (edit && method === 'PATCH') {
      const m = this.messages.get(Number(edit[1]));
      if (!m) return error(400, 'BAD_REQUEST', 'Invalid message(s)');
      if (m.sender_id !== me) return error(400, 'BAD_REQUEST', "You don't have permission to edit this message");
      if (params.content === undefined) return error(400, 'BAD_REQUEST', 'Nothing to change');
      if (this.editLimitMs !== null && Date.now() - (m.postedAt ?? 0) > this.editLimitMs)
        return error(400, 'BAD_REQUEST', 'The time limit for editing this message has passed');
      if (params.content.length > 10_000) return error(400, 'BAD_REQUEST', 'Message too long');
      m.content = params.content;
      m.edits++;
      return ok({ detached_uploads: [] });
    }
    const reaction = /^\/api\/v1\/messages\/(\d+)\/reactions$/.exec(path);
    if (reaction && method === 'POST') {
      const m = this.messages.get(Number(reaction[1]));
      if (!m) return error(400, 'BAD_REQUEST', 'Invalid message(s)');
      if (!this.addReaction(m, me, params.emoji_name ?? '')) return error(400, 'BAD_REQUEST', `Emoji '${params.emoji_name ?? ''}' does not exist`);
      return ok();
    }
    return error(404, 'BAD_REQUEST', `no such endpoint: ${method} ${path}`);
  }
}

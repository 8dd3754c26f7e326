import { z } from 'zod';
import { InfraError } from '../../errors.js';
import type { Logger } from '../../logger.js';

/** A message as Zulip sends it in events, `GET /messages` and outgoing webhooks (the fields Bosun uses). */
export const ZulipMessage = z.object({
  id: z.number().int().positive(),
  sender_id: z.number().int(),
  sender_full_name: z.string().default(''),
  content: z.string(),
  type: z.enum(['stream', 'private']),
  /** Stream name for stream messages; the recipients for DMs. */
  display_recipient: z.union([z.string(), z.array(z.object({ id: z.number().int() }).loose())]),
  subject: z.string().default(''),
  /** Per-user flags (`mentioned`, `read`, …), present in `GET /messages` answers. */
  flags: z.array(z.string()).optional(),
});
export type ZulipMessage = z.infer<typeof ZulipMessage>;

export const ZulipEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('message'), id: z.number().int(), message: ZulipMessage, flags: z.array(z.string()).default([]) }),
  z.object({
    type: z.literal('reaction'),
    id: z.number().int(),
    op: z.enum(['add', 'remove']),
    user_id: z.number().int(),
    message_id: z.number().int(),
    emoji_name: z.string(),
    emoji_code: z.string(),
    reaction_type: z.string(),
    /** Deprecated by Zulip but still sent; display only. */
    user: z.object({ full_name: z.string() }).loose().optional(),
  }),
  z.object({ type: z.literal('heartbeat'), id: z.number().int() }),
]);
export type ZulipEvent = z.infer<typeof ZulipEvent>;
export type ZulipReactionEvent = Extract<ZulipEvent, { type: 'reaction' }>;

/** Where a message goes: a stream topic, or a direct message to users by id. */
export type ZulipDestination = { stream: string; topic: string } | { userIds: number[] };

/** A registered event queue. */
export interface ZulipQueue {
  queueId: string;
  lastEventId: number;
  /** Client-side timeout for one long-poll, from `event_queue_longpoll_timeout_seconds`. */
  pollTimeoutSec: number;
}

/**
 * The Zulip REST calls Bosun makes, as a narrow interface.
 * Contract: a 429 (`RATE_LIMIT_HIT`) is waited out (its `retry-after`, capped) and retried a
 * few times inside the call; any other error answer rejects with a `ZulipApiError` carrying
 * Zulip's `code` (`BAD_EVENT_QUEUE_ID`, `BAD_REQUEST`, …). Sends are not idempotent: callers
 * keep the message id they got and edit by it. `events` resolves when the long-poll returns
 * (events or a heartbeat) and rejects when `signal` aborts or `timeoutMs` passes.
 */
export interface ZulipApi {
  me(): Promise<{ userId: number; email: string; fullName: string }>;
  send(to: ZulipDestination, content: string): Promise<number>;
  edit(messageId: number, content: string): Promise<void>;
  react(messageId: number, emojiName: string): Promise<void>;
  register(): Promise<ZulipQueue>;
  events(queueId: string, lastEventId: number, opts: { timeoutMs: number; signal: AbortSignal }): Promise<ZulipEvent[]>;
  /** Messages the bot can see with ids after `anchor`, oldest first, at most `count`. */
  messagesAfter(anchor: number, count: number): Promise<ZulipMessage[]>;
  /** The emoji reactions a message has now. */
  reactionsOf(messageId: number): Promise<ZulipReaction[]>;
}

export const ZulipReaction = z.object({ user_id: z.number().int(), emoji_name: z.string(), emoji_code: z.string(), reaction_type: z.string() });
export type ZulipReaction = z.infer<typeof ZulipReaction>;

/** An error answer from Zulip (or no answer), with Zulip's code. Infrastructure: the caller may retry. */
export class ZulipApiError extends InfraError {
  constructor(
    readonly zulipCode: string,
    message: string,
    readonly retryAfterSec?: number,
  ) {
    super('infra', `Zulip: ${message} (${zulipCode})`);
  }
}

/**
 * Zulip refused an edit for good (the realm's edit time limit passed, or editing is off): the
 * caller posts a new message instead of retrying the edit.
 */
export function editRefused(err: unknown): boolean {
  return err instanceof ZulipApiError && err.zulipCode === 'BAD_REQUEST';
}

type Answer = Record<string, unknown> & { result?: string; msg?: string; code?: string };

export interface ZulipClientOptions {
  realm: string;
  email: string;
  apiKey: string;
  log: Logger;
  maxRetryAfterSec: number;
  /** Attempts per call when rate limited (first try included). */
  attempts?: number;
}

/**
 * The adapter over `zulip-js`, which Bosun uses for every call but two that go through `fetch`:
 * - `PATCH /messages/{id}`: zulip-js puts PATCH parameters in the query string, so a live-log
 *   edit (up to ~10 kB encoded) would outgrow proxies' request-line limits (nginx: 8 KiB → 414)
 *   and land in access logs; here the content travels form-encoded in the body.
 * - `GET /events`: a long-poll needs a client-side timeout (Zulip asks for
 *   `event_queue_longpoll_timeout_seconds`) and must be abortable on stop; zulip-js has neither.
 */
export async function makeZulipApi(opts: ZulipClientOptions): Promise<ZulipApi> {
  const { default: zulipInit } = await import('zulip-js');
  const client = await zulipInit({ realm: opts.realm.replace(/\/$/, ''), username: opts.email, apiKey: opts.apiKey });
  const apiUrl = client.config.apiURL;
  const auth = `Basic ${Buffer.from(`${opts.email}:${opts.apiKey}`).toString('base64')}`;
  const attempts = opts.attempts ?? 5;
  // Zulip's limits are per user: after a 429 every call (not only the refused one) waits it out.
  let pausedUntil = 0;

  async function call(what: string, run: () => Promise<Answer>): Promise<Answer> {
    for (let attempt = 1; ; attempt++) {
      const pause = pausedUntil - Date.now();
      if (pause > 0 && what !== 'get events') await new Promise((r) => setTimeout(r, pause));
      let answer: Answer;
      try {
        answer = await run();
      } catch (err) {
        if (err instanceof ZulipApiError) throw err;
        throw new ZulipApiError('UNREACHABLE', `${what} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (answer.result === 'success') return answer;
      const code = String(answer.code ?? 'BAD_REQUEST');
      const retryAfter = Number(answer['retry-after'] ?? NaN);
      if (code === 'RATE_LIMIT_HIT' && attempt < attempts) {
        const waitSec = Math.min(Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : 1, opts.maxRetryAfterSec);
        opts.log.info({ what, waitSec, attempt }, 'Zulip rate limit hit; waiting');
        pausedUntil = Math.max(pausedUntil, Date.now() + waitSec * 1000);
        continue;
      }
      throw new ZulipApiError(code, `${what}: ${String(answer.msg ?? 'error')}`, Number.isFinite(retryAfter) ? retryAfter : undefined);
    }
  }

  async function fetchJson(
    method: string,
    path: string,
    init: { query?: URLSearchParams; body?: URLSearchParams; signal?: AbortSignal } = {},
  ): Promise<Answer> {
    const url = `${apiUrl}${path}${init.query ? `?${init.query}` : ''}`;
    const res = await fetch(url, {
      method,
      headers: { authorization: auth, ...(init.body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      ...(init.body ? { body: init.body.toString() } : {}),
      ...(init.signal ? { signal: init.signal } : {}),
    });
    const text = await res.text();
    try {
      const answer = JSON.parse(text) as Answer;
      if (res.status === 429 && answer['retry-after'] === undefined) answer['retry-after'] = Number(res.headers.get('retry-after') ?? 1);
      return answer;
    } catch {
      throw new ZulipApiError('NOT_JSON', `${method} ${path} answered ${res.status} without JSON`);
    }
  }

  return {
    async me() {
      const a = await call('users/me', () => client.users.me.getProfile());
      return { userId: Number(a.user_id), email: String(a.email), fullName: String(a.full_name) };
    },
    async send(to, content) {
      const params = 'stream' in to ? { type: 'stream', to: to.stream, topic: to.topic, content } : { type: 'private', to: to.userIds, content };
      const a = await call('send message', () => client.messages.send(params));
      return Number(a.id);
    },
    async edit(messageId, content) {
      await call('edit message', () => fetchJson('PATCH', `/messages/${messageId}`, { body: new URLSearchParams({ content }) }));
    },
    async react(messageId, emojiName) {
      await call('add reaction', () => client.reactions.add({ message_id: messageId, emoji_name: emojiName }));
    },
    async register() {
      // zulip-js sends POST parameters as multipart form fields: strings only (booleans as JSON text).
      const a = await call('register queue', () =>
        client.queues.register({ event_types: ['message', 'reaction'], apply_markdown: 'false', client_gravatar: 'true' }),
      );
      const timeout = Number(a.event_queue_longpoll_timeout_seconds ?? 90);
      return {
        queueId: String(a.queue_id),
        lastEventId: Number(a.last_event_id ?? -1),
        pollTimeoutSec: Number.isFinite(timeout) && timeout > 0 ? timeout : 90,
      };
    },
    async events(queueId, lastEventId, { timeoutMs, signal }) {
      const query = new URLSearchParams({ queue_id: queueId, last_event_id: String(lastEventId) });
      const a = await call('get events', () => fetchJson('GET', '/events', { query, signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) }));
      const events: ZulipEvent[] = [];
      for (const raw of (a.events as unknown[] | undefined) ?? []) {
        const parsed = ZulipEvent.safeParse(raw);
        // Events of other types (or shapes Bosun does not read) still advance the cursor.
        events.push(parsed.success ? parsed.data : { type: 'heartbeat', id: Number((raw as { id?: unknown }).id ?? lastEventId) });
      }
      return events;
    },
    async messagesAfter(anchor, count) {
      const a = await call('get messages', () =>
        client.messages.retrieve({ anchor, num_before: 0, num_after: count, apply_markdown: 'false', client_gravatar: 'true' }),
      );
      const out: ZulipMessage[] = [];
      for (const raw of (a.messages as unknown[] | undefined) ?? []) {
        const parsed = ZulipMessage.safeParse(raw);
        if (parsed.success && parsed.data.id > anchor) out.push(parsed.data);
      }
      return out;
    },
    async reactionsOf(messageId) {
      const a = await call('get message', () => client.messages.getById({ message_id: messageId, apply_markdown: 'false' }));
      const parsed = z.object({ reactions: z.array(ZulipReaction).default([]) }).safeParse(a.message);
      return parsed.success ? parsed.data.reactions : [];
    },
  };
}

/** Every byte Bosun sends to Zulip passes the secret redactor (R13). */
export function redactingZulipApi(api: ZulipApi, redact: (text: string) => string): ZulipApi {
  return {
    me: () => api.me(),
    register: () => api.register(),
    events: (q, l, o) => api.events(q, l, o),
    messagesAfter: (a, c) => api.messagesAfter(a, c),
    reactionsOf: (m) => api.reactionsOf(m),
    react: (m, e) => api.react(m, e),
    send: (to, content) => api.send('stream' in to ? { stream: to.stream, topic: redact(to.topic) } : to, redact(content)),
    edit: (id, content) => api.edit(id, redact(content)),
  };
}

import type { SlackBlock } from './render-build.js';

/**
 * The Web API methods Bosun calls, as a narrow interface Bolt's `WebClient` satisfies.
 * Contract: calls may be retried by the client on 429 (honouring Retry-After); a rejected
 * promise means Slack refused or was unreachable after retries. Nothing here is idempotent:
 * callers keep the `ts` they got and update by it.
 */
export interface SlackApi {
  chat: {
    postMessage(args: {
      channel: string;
      text: string;
      blocks?: SlackBlock[];
      thread_ts?: string;
      unfurl_links?: boolean;
    }): Promise<{ ts?: string; channel?: string }>;
    update(args: { channel: string; ts: string; text: string; blocks?: SlackBlock[] }): Promise<unknown>;
    postEphemeral(args: { channel: string; user: string; text: string; thread_ts?: string }): Promise<unknown>;
  };
  conversations: {
    open(args: { users: string }): Promise<{ channel?: { id?: string } }>;
  };
  filesUploadV2(args: { channel_id: string; thread_ts: string; filename: string; content: string; title?: string; initial_comment?: string }): Promise<unknown>;
}

/**
 * Every byte Bosun sends to Slack passes the secret redactor (R13): message text, blocks and
 * uploaded files. One choke point, so no renderer can forget it.
 */
export function redactingSlackApi(api: SlackApi, redact: (text: string) => string): SlackApi {
  const blocks = (b?: SlackBlock[]) => (b ? (JSON.parse(redact(JSON.stringify(b))) as SlackBlock[]) : undefined);
  const withBlocks = <T extends { text: string; blocks?: SlackBlock[] }>(a: T): T => {
    const out = { ...a, text: redact(a.text) };
    const b = blocks(a.blocks);
    if (b) out.blocks = b;
    return out;
  };
  return {
    chat: {
      postMessage: (a) => api.chat.postMessage(withBlocks(a)),
      update: (a) => api.chat.update(withBlocks(a)),
      postEphemeral: (a) => api.chat.postEphemeral({ ...a, text: redact(a.text) }),
    },
    conversations: { open: (a) => api.conversations.open(a) },
    filesUploadV2: (a) => api.filesUploadV2({ ...a, content: redact(a.content), ...(a.initial_comment ? { initial_comment: redact(a.initial_comment) } : {}) }),
  };
}

/** How many messages' last content `quietSlackApi` remembers (oldest forgotten first). */
const rememberedMessages = 5000;

/**
 * Never sends a `chat.update` whose text and blocks equal what was last sent for that message
 * (by this process: its post or its last update). A refused call forgets the message, so the
 * next update goes through. After a restart the first update of a message is always sent.
 */
export function quietSlackApi(api: SlackApi): SlackApi & { skippedUpdates(): number } {
  const last = new Map<string, string>();
  let skipped = 0;
  const remember = (key: string, content: string): void => {
    last.delete(key);
    last.set(key, content);
    if (last.size > rememberedMessages) last.delete(last.keys().next().value as string);
  };
  const contentOf = (a: { text: string; blocks?: SlackBlock[] }): string => JSON.stringify([a.text, a.blocks ?? null]);
  return {
    ...api,
    chat: {
      ...api.chat,
      async postMessage(a) {
        const posted = await api.chat.postMessage(a);
        if (posted.ts) remember(`${posted.channel ?? a.channel}/${posted.ts}`, contentOf(a));
        return posted;
      },
      async update(a) {
        const key = `${a.channel}/${a.ts}`;
        const content = contentOf(a);
        if (last.get(key) === content) {
          skipped++;
          return { ok: true, skipped: 'unchanged' };
        }
        remember(key, content);
        try {
          return await api.chat.update(a);
        } catch (err) {
          last.delete(key);
          throw err;
        }
      },
    },
    skippedUpdates: () => skipped,
  };
}

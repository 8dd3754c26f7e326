import { z } from 'zod';

/**
 * The `zulip` section of the server config. Env: ZULIP_REALM, ZULIP_EMAIL, ZULIP_API_KEY
 * (or ZULIP_API_KEY_FILE), ZULIP_MODE, ZULIP_WEBHOOK_TOKEN (or ZULIP_WEBHOOK_TOKEN_FILE).
 */
export const ZulipConfig = z
  .strictObject({
    /** The organisation's site URL, e.g. `https://chat.example.com` (no `/api`). */
    realm: z.url({ protocol: /^https?$/, error: 'expected the site URL, e.g. https://chat.example.com' }),
    /** The bot account's email (Zulip's API user name). */
    email: z.string().min(3),
    /** The bot account's API key. */
    apiKey: z.string().min(1),
    /**
     * `events` (default): Bosun registers an event queue and long-polls it (messages, mentions,
     * DMs and reactions). `webhook`: Zulip POSTs mentions and DMs to `/zulip/webhook` (an
     * outgoing-webhook bot); reactions are not delivered, so decisions are `pass`/`fail` commands.
     */
    mode: z.enum(['events', 'webhook']).default('events'),
    /** The outgoing-webhook bot's token (webhook mode), checked in constant time (R5). */
    webhookToken: z.string().min(16, 'the outgoing webhook token is at least 16 characters').optional(),
    /** Stream per repository: where each build's topic goes (`{ demo: ci-demo }`). */
    streams: z.record(z.string(), z.string().min(1).max(60)).default({}),
    /** Stream for repositories not in `streams` (builds from GitHub, the CLI, DMs), if any. */
    defaultStream: z.string().min(1).max(60).optional(),
    /** A stream message starting with this word is a command even without a mention (`/ci build …`). */
    commandPrefix: z
      .string()
      .regex(/^\S{1,16}$/)
      .optional(),
    /** DM the requester when their build finishes or waits at a checkpoint. */
    dmOnFinish: z.boolean().default(true),
    /** Minimum gap between edits of one live-log message (≈ 1/s). */
    logEditIntervalMs: z.number().int().positive().default(1000),
    /** Budget for live-log edits across all builds (Zulip's default API limit is 200 requests a minute per user). */
    logEditsPerMinute: z.number().int().positive().default(60),
    /** Longest wait on one 429 `Retry-After` before the call is given up (and retried by the next edit). */
    maxRetryAfterSec: z.number().int().positive().default(60),
  })
  .superRefine((c, ctx) => {
    if (c.mode === 'webhook' && !c.webhookToken)
      ctx.addIssue({ code: 'custom', path: ['webhookToken'], message: 'webhook mode needs the outgoing webhook bot token (ZULIP_WEBHOOK_TOKEN)' });
  });
export type ZulipConfig = z.infer<typeof ZulipConfig>;

/** The realm's host (with port if any): the scope of Zulip user ids in actor ids. */
export function realmHost(realm: string): string {
  return new URL(realm).host;
}

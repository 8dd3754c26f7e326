import { z } from 'zod';

/** Which build events a channel hears about (R-notifications: no spam). */
export const SlackNotify = z.enum(['all', 'started', 'stages', 'failures', 'successes', 'approvals']);
export type SlackNotify = z.infer<typeof SlackNotify>;

export const SlackChannelSettings = z.strictObject({
  /** Events that post in this channel; builds started from the channel always get their thread. */
  notify: z.array(SlackNotify).default(['all']),
});
export type SlackChannelSettings = z.infer<typeof SlackChannelSettings>;

/** Where an approver group's decision cards go (`slack.approverChannels.<group>`). */
export const SlackApproverChannel = z.strictObject({
  /** Channel id (`C0123ABC`) the card is posted in, besides the build thread. */
  channel: z.string().regex(/^[CG][A-Z0-9]+$/, 'a Slack channel id such as C0123ABC'),
  /** A Slack user group id (`S0123ABC`), mentioned as `<!subteam^S0123ABC>`; without it the group's Slack members are mentioned one by one. */
  userGroup: z
    .string()
    .regex(/^S[A-Z0-9]+$/, 'a Slack user group id such as S0123ABC')
    .optional(),
});
export type SlackApproverChannel = z.infer<typeof SlackApproverChannel>;

/** The `slack` section of the server config. Env: SLACK_BOT_TOKEN, SLACK_APP_TOKEN, SLACK_SIGNING_SECRET, SLACK_API_URL, SLACK_MODE. */
export const SlackConfig = z
  .strictObject({
    /** `socket` (default: outbound WebSocket, no public URL) or `http` (Events API with signatures). */
    mode: z.enum(['socket', 'http']).default('socket'),
    botToken: z.string().min(1),
    /** App-level `xapp-` token, Socket Mode only. */
    appToken: z.string().optional(),
    /** HTTP mode: request signing secret. */
    signingSecret: z.string().optional(),
    /** Web API base URL ending in `/` (tests point it at a fake). */
    apiUrl: z.string().optional(),
    /** The slash command Bosun answers. */
    command: z.string().default('/ci'),
    /** Where builds from other sources (GitHub, CLI) are posted, if anywhere. */
    defaultChannel: z.string().optional(),
    /** Per-channel notification settings, by channel id. */
    channels: z.record(z.string(), SlackChannelSettings).default({}),
    /**
     * When the requester of a build started from Slack gets a DM: `failures` (default: the build
     * failed, or it waits at a checkpoint), `always` (also successes and cancellations), `never`.
     */
    dmRequester: z.enum(['failures', 'always', 'never']).default('failures'),
    /** Per approver group (a name from `groups`): the channel its decision cards also go to, mentioning the group. */
    approverChannels: z.record(z.string(), SlackApproverChannel).default({}),
    /** Minimum gap between edits of one live-log message (≈ 1/s). */
    logEditIntervalMs: z.number().int().positive().default(1000),
    /**
     * A step gets a live-log message in the build thread only once it has printed for this long
     * (0: at once); a step that ends sooner gets none: the root's step line and the web log say
     * how it went, and a failing step's last lines are posted when it fails.
     */
    liveLogAfterMs: z.number().int().nonnegative().default(15_000),
    /** Global budget for live-log edits across all builds (Slack Tier 3 is ~50/min). */
    logEditsPerMinute: z.number().int().positive().default(40),
    /** Replay window for HTTP-mode signatures, both directions (R4). */
    timestampWindowSec: z.number().int().positive().default(300),
  })
  .superRefine((c, ctx) => {
    if (c.mode === 'socket' && !c.appToken)
      ctx.addIssue({ code: 'custom', path: ['appToken'], message: 'Socket Mode needs an app-level token (SLACK_APP_TOKEN)' });
    if (c.mode === 'http' && !c.signingSecret)
      ctx.addIssue({ code: 'custom', path: ['signingSecret'], message: 'HTTP mode needs a signing secret (SLACK_SIGNING_SECRET)' });
  });
export type SlackConfig = z.infer<typeof SlackConfig>;

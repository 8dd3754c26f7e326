import { createHmac } from 'node:crypto';

/** Slack payloads for tests: slash commands, mentions and button clicks, as Slack sends them. */
export function slashCommand(text: string, user: string, opts: { team?: string; channel?: string; trigger?: string } = {}): Record<string, string> {
  return {
    command: '/ci',
    text,
    user_id: user,
    user_name: user.toLowerCase(),
    team_id: opts.team ?? 'T1',
    channel_id: opts.channel ?? 'C1',
    response_url: 'http://127.0.0.1:9/response',
    trigger_id: opts.trigger ?? `trig-${Math.random().toString(36).slice(2)}`,
    api_app_id: 'A1',
  };
}

export function buttonClick(
  actionId: string,
  value: string,
  user: string,
  message: { channel: string; ts: string; thread_ts?: string },
  opts: { team?: string; actionTs?: string } = {},
): Record<string, unknown> {
  const team = opts.team ?? 'T1';
  return {
    type: 'block_actions',
    api_app_id: 'A1',
    token: 'legacy',
    trigger_id: `trig-${Math.random().toString(36).slice(2)}`,
    user: { id: user, username: user.toLowerCase(), name: user.toLowerCase(), team_id: team },
    team: { id: team, domain: 'test' },
    channel: { id: message.channel, name: 'ci' },
    container: { type: 'message', message_ts: message.ts, channel_id: message.channel, is_ephemeral: false },
    message: { type: 'message', ts: message.ts, ...(message.thread_ts ? { thread_ts: message.thread_ts } : {}), text: '' },
    response_url: 'http://127.0.0.1:9/response',
    actions: [
      {
        type: 'button',
        action_id: actionId,
        block_id: 'b',
        value,
        text: { type: 'plain_text', text: actionId },
        action_ts: opts.actionTs ?? `${Date.now() / 1000}${Math.random().toString().slice(2, 6)}`,
      },
    ],
  };
}

/** Headers for a correctly signed HTTP-mode request (v0 HMAC over `v0:<ts>:<body>`). */
export function signSlack(
  secret: string,
  body: string,
  ts = Math.floor(Date.now() / 1000),
  contentType = 'application/x-www-form-urlencoded',
): Record<string, string> {
  return {
    'content-type': contentType,
    'x-slack-request-timestamp': String(ts),
    'x-slack-signature': `v0=${createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex')}`,
  };
}

/** Form body for a slash command or (as `payload=`) an interaction. */
export function formBody(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

export function interactionBody(payload: Record<string, unknown>): string {
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

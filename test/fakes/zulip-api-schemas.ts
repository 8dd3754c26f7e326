import { z } from 'zod';

/**
 * Response schemas transcribed from Zulip's OpenAPI description (`zerver/openapi/zulip.yaml`:
 * `JsonSuccessBase`, `JsonErrorBase`, `BadEventQueueIdError`, `RateLimitedError`, the
 * `/register`, `/events`, `/messages` and `/users/me` responses, the `message`, `reaction` and
 * `heartbeat` events), limited to the fields the fake returns. The fake's own tests check every
 * answer against them, so the fake cannot drift from what a real Zulip says.
 */
export const JsonSuccessBase = z.object({ result: z.literal('success'), msg: z.string(), ignored_parameters_unsupported: z.array(z.string()).optional() });
export const JsonError = z.object({ result: z.literal('error'), msg: z.string(), code: z.string() });
export const BadEventQueueIdError = JsonError.extend({ code: z.literal('BAD_EVENT_QUEUE_ID'), queue_id: z.string() });
export const RateLimitedError = JsonError.extend({ code: z.literal('RATE_LIMIT_HIT'), 'retry-after': z.number() });

const DisplayRecipientUser = z.object({ id: z.number().int(), email: z.string(), full_name: z.string(), is_mirror_dummy: z.boolean() });
export const MessagesBase = z.object({
  avatar_url: z.string().nullable(),
  client: z.string(),
  content: z.string(),
  content_type: z.enum(['text/html', 'text/x-markdown']),
  display_recipient: z.union([z.string(), z.array(DisplayRecipientUser)]),
  id: z.number().int(),
  is_me_message: z.boolean(),
  reactions: z.array(
    z.object({
      emoji_name: z.string(),
      emoji_code: z.string(),
      reaction_type: z.enum(['unicode_emoji', 'realm_emoji', 'zulip_extra_emoji']),
      user_id: z.number().int(),
    }),
  ),
  recipient_id: z.number().int(),
  sender_email: z.string(),
  sender_full_name: z.string(),
  sender_id: z.number().int(),
  sender_realm_str: z.string(),
  stream_id: z.number().int().optional(),
  subject: z.string(),
  submessages: z.array(z.unknown()),
  timestamp: z.number().int(),
  topic_links: z.array(z.unknown()),
  type: z.enum(['stream', 'private']),
  flags: z.array(z.string()),
});

export const RegisterResponse = JsonSuccessBase.extend({
  queue_id: z.string().nullable(),
  last_event_id: z.number().int(),
  zulip_version: z.string(),
  zulip_feature_level: z.number().int(),
  event_queue_longpoll_timeout_seconds: z.number().int(),
});
export const MessageEvent = z.object({ id: z.number().int(), type: z.literal('message'), message: MessagesBase, flags: z.array(z.string()) });
export const ReactionEvent = z.object({
  id: z.number().int(),
  type: z.literal('reaction'),
  op: z.enum(['add', 'remove']),
  user_id: z.number().int(),
  user: z.object({ user_id: z.number().int(), email: z.string(), full_name: z.string() }),
  message_id: z.number().int(),
  emoji_name: z.string(),
  emoji_code: z.string(),
  reaction_type: z.enum(['unicode_emoji', 'realm_emoji', 'zulip_extra_emoji']),
});
export const HeartbeatEvent = z.object({ id: z.number().int(), type: z.literal('heartbeat') });
export const GetEventsResponse = JsonSuccessBase.extend({ events: z.array(z.union([MessageEvent, ReactionEvent, HeartbeatEvent])), queue_id: z.string() });
export const SendMessageResponse = JsonSuccessBase.extend({ id: z.number().int() });
export const GetMessagesResponse = JsonSuccessBase.extend({
  anchor: z.number().int(),
  found_newest: z.boolean(),
  found_oldest: z.boolean(),
  found_anchor: z.boolean(),
  history_limited: z.boolean(),
  messages: z.array(MessagesBase),
});
export const OwnUserResponse = JsonSuccessBase.extend({ user_id: z.number().int(), email: z.string(), full_name: z.string(), is_bot: z.boolean() });
export const GetMessageResponse = JsonSuccessBase.extend({ message: MessagesBase, raw_content: z.string() });

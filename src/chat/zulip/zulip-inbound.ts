import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { BuildService, CommandContext, CommandServices } from '../../../commands/command.js';
import { dispatch } from '../../../commands/dispatch.js';
import type { Actor, Build } from '../../domain/build.js';
import { asCodedError, CodedError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { ZulipApi, ZulipDestination, ZulipMessage, ZulipReactionEvent } from './zulip-api.js';
import type { TopicStore } from './topic-store.js';
import { buildTopic, failEmoji, passEmoji, renderReply } from './render-topic.js';
import { silentMention, topicLink, zulipText } from './zulip-markdown.js';

export interface ZulipInboundDeps {
  api: ZulipApi;
  builds: BuildService;
  services: CommandServices;
  cards: TopicStore;
  redis: Redis;
  prefix: string;
  realmHost: string;
  /** The bot's own user id and name (from `GET /users/me`), set at start. */
  bot: { userId: number; fullName: string };
  commandPrefix?: string;
  /** The stream a build's topic goes to, for the link in the confirmation. */
  streamOf(build: Build): string | null;
  /** `events`: a claim left by an earlier process is stale (one consumer); `webhook`: any claim stands (retries run concurrently). */
  mode: 'events' | 'webhook';
  log: Logger;
}

const doneTtlSec = 7 * 24 * 3600;
const claimTtlSec = 15 * 60;

/** `zulip:<realm-host>/<user_id>`: stable ids only, never names or emails (R5, R9). */
function zulipActor(realmHost: string, userId: number, name: string): Actor {
  return { id: `zulip:${realmHost}/${userId}`, name: name || `user ${userId}` };
}

/**
 * Transport only, shared by the event queue and the outgoing webhook: turns a Zulip message
 * into a neutral command (`@**Bosun** build demo#master`, a DM, or `<prefix> …`), dispatches it
 * through the shared command layer and answers in Zulip; turns a ✅/❌ reaction on a checkpoint
 * card into a decision. Each inbound item is handled once: a Redis claim (`running:<nonce>`,
 * then `done`) per message id or reaction, and the build's delivery id (`zulip:<host>/<id>`)
 * makes a re-run after a crash create no second build.
 */
export class ZulipInbound {
  /** This process's claim mark: a claim with another nonce in events mode was left by a dead process. */
  private readonly nonce = randomBytes(6).toString('hex');
  constructor(private readonly deps: ZulipInboundDeps) {}

  /** The command text of a message addressed to the bot, or null when it is not for Bosun. */
  commandText(m: ZulipMessage, flags: string[], trigger?: string): string | null {
    if (m.sender_id === this.deps.bot.userId) return null;
    const escape = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const name = escape(this.deps.bot.fullName);
    // `@**Bosun**` or `@**Bosun|12**` (a silent `@_**Bosun**_` addresses no one), or a typed `@bosun`.
    const mention = new RegExp(`@\\*\\*${name}(?:\\|${this.deps.bot.userId})?\\*\\*`, 'gi');
    const plain = new RegExp(`^\\s*@${this.deps.bot.fullName.trim().split(/\s+/).map(escape).join('[ _-]?')}(?![\\w-])[:,]?`, 'i');
    const text = m.content.trim();
    const prefix = this.deps.commandPrefix;
    const addressed =
      m.type === 'private' ||
      Boolean(trigger) ||
      flags.includes('mentioned') ||
      new RegExp(mention.source, 'i').test(text) ||
      plain.test(text) ||
      (prefix !== undefined && text.toLowerCase().startsWith(`${prefix.toLowerCase()} `));
    if (!addressed) return null;
    let out = text.replace(mention, ' ').replace(plain, ' ').trim();
    if (prefix && out.toLowerCase().startsWith(`${prefix.toLowerCase()} `)) out = out.slice(prefix.length);
    return out.trim();
  }

  async onMessage(m: ZulipMessage, flags: string[] = [], trigger?: string): Promise<void> {
    const text = this.commandText(m, flags, trigger);
    if (text !== null) await this.once(`msg:${m.id}`, () => this.run(m, text));
    await this.remember(m.id);
  }

  async onReaction(ev: ZulipReactionEvent): Promise<void> {
    if (ev.op !== 'add' || ev.user_id === this.deps.bot.userId) return;
    const decision =
      passEmoji.codes.includes(ev.emoji_code) || passEmoji.names.includes(ev.emoji_name)
        ? 'pass'
        : failEmoji.codes.includes(ev.emoji_code) || failEmoji.names.includes(ev.emoji_name)
          ? 'fail'
          : null;
    if (!decision) return;
    const card = await this.deps.cards.card(ev.message_id);
    if (!card) return;
    await this.once(`react:${ev.message_id}:${ev.user_id}:${decision}`, async () => {
      const actor = zulipActor(this.deps.realmHost, ev.user_id, ev.user?.full_name ?? '');
      const ctx = this.context(
        actor,
        { platform: 'zulip', channel: `dm:${ev.user_id}` },
        `${this.deps.realmHost}/reaction/${ev.message_id}/${ev.user_id}/${decision}`,
      );
      const tell = (text: string) => this.deps.api.send({ userIds: [ev.user_id] }, text);
      try {
        const { outcome, build } = await this.deps.builds.decide(card.buildId, card.stage, decision, ctx);
        const st = build.stages.find((s) => s.name === card.stage)?.checkpointState;
        if (outcome === 'recorded')
          await tell(
            `Your approval of build #${card.buildId} (${zulipText(card.stage)}) is recorded; ${st ? st.required - st.approvals.length : 0} more needed.`,
          );
      } catch (err) {
        const coded = asCodedError(err);
        if (!(err instanceof CodedError) || coded.retryable) this.deps.log.warn({ err, buildId: card.buildId }, 'Zulip reaction failed');
        await tell(
          err instanceof CodedError && !coded.retryable ? `Not done: ${zulipText(coded.message)}` : 'Bosun could not do that right now; please react again.',
        );
      }
    });
  }

  /** The highest message id handled, for the catch-up after a lost event queue. */
  async lastMessageId(): Promise<number | null> {
    const raw = await this.deps.redis.get(`${this.deps.prefix}:zulip:last-message`);
    return raw ? Number(raw) : null;
  }

  private async remember(id: number): Promise<void> {
    const key = `${this.deps.prefix}:zulip:last-message`;
    const current = Number((await this.deps.redis.get(key)) ?? 0);
    if (id > current) await this.deps.redis.set(key, String(id));
  }

  private async once(key: string, work: () => Promise<void>): Promise<void> {
    const k = `${this.deps.prefix}:zulip:seen:${key}`;
    const mine = `running:${this.nonce}`;
    const claimed = (await this.deps.redis.set(k, mine, 'EX', claimTtlSec, 'NX')) === 'OK';
    if (!claimed) {
      const state = await this.deps.redis.get(k);
      const stale = this.deps.mode === 'events' && state?.startsWith('running:') && state !== mine;
      if (!stale) return;
      this.deps.log.info({ key }, 'Zulip: redoing an item a stopped process had claimed');
      await this.deps.redis.set(k, mine, 'EX', claimTtlSec);
    }
    try {
      await work();
    } finally {
      await this.deps.redis.set(k, 'done', 'EX', doneTtlSec);
    }
  }

  private context(actor: Actor, chat: NonNullable<CommandContext['chat']>, eventId: string): CommandContext {
    return { actor, source: 'zulip', builds: this.deps.builds, ...this.deps.services, chat, eventId };
  }

  private async run(m: ZulipMessage, text: string): Promise<void> {
    const actor = zulipActor(this.deps.realmHost, m.sender_id, m.sender_full_name);
    const inStream = m.type === 'stream' && typeof m.display_recipient === 'string';
    const here: ZulipDestination = inStream ? { stream: m.display_recipient as string, topic: m.subject } : { userIds: [m.sender_id] };
    const chat = inStream
      ? { platform: 'zulip', channel: `stream:${m.display_recipient as string}`, thread: m.subject }
      : { platform: 'zulip', channel: `dm:${m.sender_id}` };
    const ctx = this.context(actor, chat, `${this.deps.realmHost}/${m.id}`);
    try {
      const reply = await dispatch(text, ctx);
      let content = renderReply(reply);
      if (reply.build && reply.kind === 'ok') {
        const stream = this.deps.streamOf(reply.build);
        if (stream) content += `\nFollow it in ${topicLink(stream, buildTopic(reply.build))}.`;
      }
      const privately = reply.ephemeral || reply.kind !== 'ok';
      await this.deps.api.send(
        privately ? { userIds: [m.sender_id] } : here,
        inStream && !privately ? `${silentMention(m.sender_full_name, m.sender_id)} ${content}` : content,
      );
    } catch (err) {
      this.deps.log.warn({ err, messageId: m.id }, 'Zulip command failed');
    }
  }
}

import type { App } from '@slack/bolt';
import type { BuildService, CommandContext, CommandServices } from '../../../commands/command.js';
import { dispatch } from '../../../commands/dispatch.js';
import { asCodedError, CodedError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { SlackApi } from './slack-api.js';
import { actionIds, renderReply } from './render-build.js';

export interface ListenerDeps {
  builds: BuildService;
  /** The redacting client every reply goes through. */
  api: SlackApi;
  command: string;
  log: Logger;
  /** Marks an inbound id as seen; false when it was seen before (retry/replay dedupe, R4). */
  firstSeen(id: string): Promise<boolean>;
  /** Optional services for command contexts (leases, GitHub), the same every front end gives. */
  services?: CommandServices;
  /**
   * What to tell the person while Bosun's Redis is unreachable ("retry in N s"), or null when
   * it is reachable. Socket Mode acks before any work, so this is how the user hears of it.
   */
  unavailable?(): string | null;
}

/** Commands whose result the build thread shows; their confirmation goes only to the asker. */
const privateConfirmations = new Set(['build', 'retry', 'cancel', 'pass', 'approve', 'fail', 'reject']);

/** `slack:<team>/<user>`: stable ids only, never display names (R9). */
function slackActor(team: string | undefined, user: string, name?: string): { id: string; name: string } {
  return { id: `slack:${team ?? 'T0'}/${user}`, name: name || user };
}

/**
 * Transport only: ack at once, turn the Slack payload into a neutral command, dispatch it
 * through the shared command layer, and render the neutral reply for Slack.
 */
export function registerListeners(app: App, deps: ListenerDeps): void {
  const { api, builds, log } = deps;

  async function answer(text: string, ctx: CommandContext, user: string, thread?: string): Promise<void> {
    const reply = await dispatch(text, ctx);
    const first = text.trim().split(/\s+/)[0]?.toLowerCase() ?? '';
    const msg = renderReply(reply);
    const channel = ctx.chat!.channel;
    if (reply.ephemeral || reply.kind !== 'ok' || privateConfirmations.has(first)) {
      await api.chat.postEphemeral({ channel, user, text: msg.text, ...(thread ? { thread_ts: thread } : {}) });
    } else {
      await api.chat.postMessage({ channel, text: msg.text, ...(thread ? { thread_ts: thread } : {}) });
    }
  }

  app.command(deps.command, async ({ command, ack }) => {
    await ack();
    const down = deps.unavailable?.();
    if (down) return void (await api.chat.postEphemeral({ channel: command.channel_id, user: command.user_id, text: down }).catch(() => undefined));
    if (!(await deps.firstSeen(`cmd:${command.trigger_id}`))) return;
    const ctx: CommandContext = {
      actor: slackActor(command.team_id, command.user_id, command.user_name),
      source: 'slack',
      builds,
      ...deps.services,
      chat: { platform: 'slack', channel: command.channel_id },
      eventId: command.trigger_id,
    };
    await answer(command.text, ctx, command.user_id).catch((err: unknown) => log.warn({ err }, 'Slack command failed'));
  });

  app.event('app_mention', async ({ event, body, context }) => {
    const down = deps.unavailable?.();
    if (down && event.user)
      return void (await api.chat
        .postEphemeral({ channel: event.channel, user: event.user, text: down, thread_ts: event.thread_ts ?? event.ts })
        .catch(() => undefined));
    const eventId = (body as { event_id?: string }).event_id ?? `${event.channel}:${event.ts}`;
    if (!(await deps.firstSeen(`evt:${eventId}`)) || !event.user) return;
    const text = event.text.replace(new RegExp(`<@${context.botUserId ?? '[A-Z0-9]+'}>`, 'g'), '').trim();
    const thread = event.thread_ts ?? event.ts;
    const ctx: CommandContext = {
      actor: slackActor(event.team ?? (body as { team_id?: string }).team_id, event.user),
      source: 'slack',
      builds,
      ...deps.services,
      chat: { platform: 'slack', channel: event.channel, thread },
      eventId,
    };
    await answer(text, ctx, event.user, thread).catch((err: unknown) => log.warn({ err }, 'Slack mention failed'));
  });

  app.action(actionIds.viewLog, async ({ ack }) => {
    await ack();
  });

  // The lease reminder's buttons run the command in their value (only these two grammars), as
  // the clicker; the reminder is then replaced by the outcome, without buttons.
  for (const id of [actionIds.leaseExtend, actionIds.leaseRelease]) {
    app.action(id, async ({ ack, body, action }) => {
      await ack();
      if (body.type !== 'block_actions' || action.type !== 'button') return;
      const channel = body.channel?.id ?? body.container?.channel_id;
      const ts = body.message?.ts ?? body.container?.message_ts;
      const user = body.user.id;
      const value = action.value ?? '';
      const grammar = id === actionIds.leaseExtend ? /^renew L-\d{1,15}( \d{1,4}[mhd])?$/ : /^release L-\d{1,15}$/;
      if (!channel || !grammar.test(value)) return;
      const actionTs = (action as { action_ts?: string }).action_ts ?? body.trigger_id;
      if (!(await deps.firstSeen(`act:${user}:${actionTs}`))) return;
      const down = deps.unavailable?.();
      if (down) return void (await api.chat.postEphemeral({ channel, user, text: down }).catch(() => undefined));
      const ctx: CommandContext = {
        actor: slackActor(body.user.team_id ?? body.team?.id, user, body.user.username ?? body.user.name),
        source: 'slack',
        builds,
        ...deps.services,
        chat: { platform: 'slack', channel },
        eventId: `${user}:${actionTs}`,
      };
      try {
        const reply = await dispatch(value, ctx);
        const text = renderReply(reply).text;
        if (reply.kind === 'ok' && ts)
          await api.chat.update({ channel, ts, text: `${id === actionIds.leaseExtend ? ':hourglass:' : ':wave:'} ${text}`, blocks: [] });
        else await api.chat.postMessage({ channel, text });
      } catch (err) {
        log.warn({ err, value }, 'Slack lease button failed');
      }
    });
  }

  for (const id of [actionIds.cancel, actionIds.retry, actionIds.pass, actionIds.fail]) {
    app.action(id, async ({ ack, body, action }) => {
      await ack();
      if (body.type !== 'block_actions' || action.type !== 'button') return;
      const channel = body.channel?.id ?? body.container?.channel_id;
      const user = body.user.id;
      if (!channel) return;
      const down = deps.unavailable?.();
      if (down) return void (await api.chat.postEphemeral({ channel, user, text: down }).catch(() => undefined));
      const actionTs = (action as { action_ts?: string }).action_ts ?? body.trigger_id;
      if (!(await deps.firstSeen(`act:${user}:${actionTs}`))) return;
      const [buildId = '', stage] = (action.value ?? '').split('|');
      const ctx: CommandContext = {
        actor: slackActor(body.user.team_id ?? body.team?.id, user, body.user.username ?? body.user.name),
        source: 'slack',
        builds,
        ...deps.services,
        chat: { platform: 'slack', channel },
        eventId: `${user}:${actionTs}`,
      };
      const tell = (text: string) =>
        api.chat.postEphemeral({ channel, user, text: renderReply({ text }).text, ...(body.message?.thread_ts ? { thread_ts: body.message.thread_ts } : {}) });
      try {
        if (id === actionIds.cancel) await builds.cancel(buildId, ctx);
        else if (id === actionIds.retry) await tell(`Retrying as build #${(await builds.retry(buildId, false, ctx)).id}.`);
        else {
          const { outcome, build } = await builds.decide(buildId, stage, id === actionIds.pass ? 'pass' : 'fail', ctx);
          const st = build.stages.find((s) => s.name === stage)?.checkpointState;
          if (outcome === 'recorded') await tell(`Approval recorded; ${st ? st.required - st.approvals.length : 0} more needed.`);
        }
      } catch (err) {
        const coded = asCodedError(err);
        if (!(err instanceof CodedError) || coded.retryable) log.warn({ err, buildId }, 'Slack button failed');
        await tell(err instanceof CodedError && !coded.retryable ? `Not done: ${coded.message}` : 'Bosun could not do that right now; please try again.').catch(
          () => undefined,
        );
      }
    });
  }
}

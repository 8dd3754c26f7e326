import { isApproval, type Build } from '../../domain/build.js';
import type { StoredEvent } from '../../domain/build-event.js';
import { isTerminal } from '../../domain/status.js';
import type { EventHandler } from '../../events/event-bus.js';
import type { Logger } from '../../logger.js';
import type { LogLine } from '../../logs/log-store.js';
import { editRefused, type ZulipApi } from './zulip-api.js';
import type { ZulipLiveLog } from './live-log.js';
import type { TopicRef, TopicStore } from './topic-store.js';
import { topicLink } from './zulip-markdown.js';
import type { ApprovalFacts } from '../approval-facts.js';
import { dmChoice, wantsDm, type NotifyChoice, type NotifyPrefs } from '../notify-prefs.js';
import {
  buildTopic,
  failEmoji,
  passEmoji,
  renderCheckpoint,
  renderDecided,
  renderFailure,
  renderFinishedDm,
  renderRoot,
  renderWaitingDm,
  zulipUserId,
} from './render-topic.js';

export interface TopicReporterDeps {
  api: ZulipApi;
  store: TopicStore;
  liveLog: ZulipLiveLog;
  builds: { get(id: string): Promise<Build | null> };
  logs: { tail(b: string, s: string, st: string, n: number): Promise<LogLine[]> };
  /** The stream a build's topic goes to, or null for none (see `streamFor`). */
  streamOf(build: Build): string | null;
  realmHost: string;
  /** How people address the bot in examples (`@**Bosun**`). */
  bot: string;
  /** Cards get ✅/❌ reactions to click (event-queue mode); webhook mode only lists the commands. */
  reactions: boolean;
  /** The server default for DMs to requesters (`zulip.dmOnFinish`: `always` or `never`). */
  dmDefault: NotifyChoice;
  /** Each user's own DM choice (`notify me …`), overriding `dmDefault`. */
  notifyPrefs?: Pick<NotifyPrefs, 'get'>;
  buildUrl(id: string): string | undefined;
  /** Environment, commit range and gating stages for a checkpoint's card, best effort. */
  approvalFacts?(build: Build, stage: string): Promise<ApprovalFacts | undefined>;
  log: Logger;
}

const failureLines = 30;

/**
 * The build's Zulip topic (`build #42 demo#master`) in its repository's stream: one root
 * message edited in place (status, commit, requester, a line per stage), a live-log message per
 * step, the failing lines and a link on failure, checkpoint cards the approvers react to; DMs to
 * the requester when the build finishes or waits. At-least-once events are made once-only by
 * the store's markers, so a redelivered event posts nothing twice.
 */
export class TopicReporter implements EventHandler {
  readonly name = 'zulip-topic';
  /** Root-message writes (post + edits), for the R24 budget check. */
  rootWrites = 0;
  constructor(private readonly deps: TopicReporterDeps) {}

  async handle(event: StoredEvent): Promise<void> {
    if (!('buildId' in event) || !event.buildId) return;
    const build = await this.deps.builds.get(event.buildId);
    if (!build) return;
    const stream = this.deps.streamOf(build);
    switch (event.type) {
      case 'build.created':
        if (stream) await this.ensureRoot(build, stream);
        return;
      case 'build.status':
        if (stream) await this.ensureRoot(build, stream);
        await this.updateRoot(build);
        if (isTerminal(build.status) && (await this.dmWanted(build, build.status === 'failed' || build.status === 'failed_infra' ? 'failed' : 'finished'))) {
          const root = await this.deps.store.root(build.id);
          await this.dmRequester(build, `done:${build.status}`, renderFinishedDm(build, where(root), this.deps.buildUrl(build.id)));
        }
        return;
      case 'stage.status':
      case 'checkpoint.decided':
        await this.updateRoot(build);
        if (event.type === 'checkpoint.decided') await this.onDecided(build, event.stage, event.decision, event.actor, event.at);
        return;
      case 'log.chunk': {
        const step = build.stages.find((s) => s.name === event.stage)?.steps.find((s) => s.name === event.step);
        const root = step && !isTerminal(step.status) ? await this.deps.store.root(build.id) : null;
        if (root) this.deps.liveLog.touch(build.id, event.stage, event.step, root);
        return;
      }
      case 'step.status':
        if (isTerminal(event.status)) await this.onStepEnd(build, event.stage, event.step, event.status);
        return;
      case 'checkpoint.waiting':
        await this.onWaiting(build, stream, event);
        return;
      default:
        return;
    }
  }

  private async ensureRoot(build: Build, stream: string): Promise<TopicRef> {
    const existing = await this.deps.store.root(build.id);
    if (existing) return existing;
    if (!(await this.deps.store.once(build.id, 'root-posting'))) {
      // Another delivery is posting it; its id lands in the store shortly.
      for (let i = 0; i < 50; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const ref = await this.deps.store.root(build.id);
        if (ref) return ref;
      }
    }
    this.rootWrites++;
    const topic = buildTopic(build);
    const id = await this.deps.api.send({ stream, topic }, renderRoot(build, this.deps.realmHost, this.deps.bot, this.deps.buildUrl(build.id)));
    const ref = { stream, topic, root: id };
    await this.deps.store.setRoot(build.id, ref);
    return ref;
  }

  private async updateRoot(build: Build): Promise<TopicRef | null> {
    const root = await this.deps.store.root(build.id);
    if (!root) return null;
    this.rootWrites++;
    const content = renderRoot(build, this.deps.realmHost, this.deps.bot, this.deps.buildUrl(build.id));
    try {
      await this.deps.api.edit(root.root, content);
      return root;
    } catch (err) {
      if (!editRefused(err)) throw err;
      // The realm no longer lets us edit it (edit time limit): the status continues in a new message.
      this.deps.log.info({ err, buildId: build.id }, 'Zulip refused the root edit; posting a new status message');
      const moved = { ...root, root: await this.deps.api.send({ stream: root.stream, topic: root.topic }, content) };
      await this.deps.store.setRoot(build.id, moved);
      return moved;
    }
  }

  private async onStepEnd(build: Build, stage: string, step: string, status: string): Promise<void> {
    const root = await this.deps.store.root(build.id);
    if (!root) return;
    await this.deps.liveLog.finish(build.id, stage, step, root);
    if (status !== 'failed') return;
    const runs = build.stages.find((s) => s.name === stage)?.steps.find((s) => s.name === step)?.runs ?? 0;
    if (!(await this.deps.store.once(build.id, `failed:${stage}/${step}:${runs}`))) return;
    const tail = await this.deps.logs.tail(build.id, stage, step, failureLines);
    await this.deps.api.send(
      { stream: root.stream, topic: root.topic },
      renderFailure(
        build,
        stage,
        step,
        tail.map((l) => l.text),
        this.deps.buildUrl(build.id),
      ),
    );
  }

  private async onWaiting(build: Build, stream: string | null, event: Extract<StoredEvent, { type: 'checkpoint.waiting' }>): Promise<void> {
    const root = stream ? await this.ensureRoot(build, stream) : await this.deps.store.root(build.id);
    if (root && (await this.deps.store.once(build.id, `cp-posted:${event.stage}:${build.attempt}`))) {
      const facts = await this.deps
        .approvalFacts?.(build, event.stage)
        .catch((err: unknown) => void this.deps.log.warn({ err, buildId: build.id }, 'approval card facts unavailable'));
      const buildUrl = this.deps.buildUrl(build.id);
      const card = await this.deps.api.send(
        { stream: root.stream, topic: root.topic },
        renderCheckpoint(event, isApproval(build, event.stage), this.deps.bot, this.deps.reactions, {
          build,
          realmHost: this.deps.realmHost,
          ...(buildUrl ? { buildUrl } : {}),
          ...(facts ? { facts } : {}),
        }),
      );
      await this.deps.store.set(build.id, `cp:${event.stage}`, card);
      await this.deps.store.setCard(card, { buildId: build.id, stage: event.stage });
      if (this.deps.reactions) {
        for (const e of [passEmoji.name, failEmoji.name])
          await this.deps.api.react(card, e).catch((err: unknown) => this.deps.log.warn({ err }, 'Zulip reaction failed'));
      }
    }
    if (await this.dmWanted(build, 'waiting'))
      await this.dmRequester(build, `cp:${event.stage}`, renderWaitingDm(build, event.stage, event.approvers, where(root), this.deps.buildUrl(build.id)));
  }

  private async onDecided(build: Build, stage: string, decision: 'pass' | 'fail' | 'timeout', actor: Build['trigger']['actor'], at: string): Promise<void> {
    const card = await this.deps.store.get(build.id, `cp:${stage}`);
    if (!card) return;
    await this.deps.store.closeCard(card);
    const decidedAt = build.stages.find((s) => s.name === stage)?.checkpointState?.decision?.at ?? at;
    const content = renderDecided({ buildId: build.id, stage }, decision, actor, decidedAt, isApproval(build, stage), this.deps.realmHost);
    try {
      await this.deps.api.edit(card, content);
    } catch (err) {
      const root = editRefused(err) ? await this.deps.store.root(build.id) : null;
      if (!root) throw err;
      await this.deps.api.send({ stream: root.stream, topic: root.topic }, content);
    }
  }

  /** Whether the requester wants a DM about `what`: their own `notify me` choice, else the server default. */
  private async dmWanted(build: Build, what: 'failed' | 'finished' | 'waiting'): Promise<boolean> {
    return wantsDm(await dmChoice(this.deps.notifyPrefs, build.trigger.actor.id, this.deps.dmDefault), what);
  }

  /** A DM to the requester (Zulip users of this realm only), once per `what` and attempt. */
  private async dmRequester(build: Build, what: string, content: string): Promise<void> {
    const userId = zulipUserId(build.trigger.actor.id, this.deps.realmHost);
    if (userId === null || !(await this.deps.store.once(build.id, `dm:${what}:${build.attempt}`))) return;
    await this.deps.api.send({ userIds: [userId] }, content);
  }
}

function where(root: TopicRef | null): string {
  return root ? topicLink(root.stream, root.topic) : 'no stream is configured for this repository';
}

import { isApproval, type Build } from '../../domain/build.js';
import type { StoredEvent } from '../../domain/build-event.js';
import { isTerminal } from '../../domain/status.js';
import { isDeployFinished } from '../../domain/deploy.js';
import { escapeSlack } from '../../domain/escape-chat.js';
import { stagePublishLines } from '../../domain/describe-publication.js';
import type { EventHandler } from '../../events/event-bus.js';
import type { Logger } from '../../logger.js';
import type { LogLine } from '../../logs/log-store.js';
import type { SlackApi } from './slack-api.js';
import type { ApprovalFacts } from '../approval-facts.js';
import { dmChoice, wantsDm, type NotifyPrefs } from '../notify-prefs.js';
import type { SlackConfig, SlackNotify } from './slack-config.js';
import type { LiveLog } from './live-log.js';
import type { ThreadRef, ThreadStore } from './thread-store.js';
import {
  approverMention,
  renderCheckpoint,
  renderDecided,
  renderDecisionDm,
  renderFailure,
  renderFinishedDm,
  renderRoot,
  renderStage,
  renderWaitingDm,
  type SlackMessage,
} from './render-build.js';

export interface ThreadReporterDeps {
  api: SlackApi;
  store: ThreadStore;
  liveLog: LiveLog;
  builds: { get(id: string): Promise<Build | null> };
  logs: { tail(b: string, s: string, st: string, n: number): Promise<LogLine[]>; read(b: string, s: string, st: string): Promise<LogLine[]> };
  config: Pick<SlackConfig, 'defaultChannel' | 'channels' | 'dmRequester'> & Partial<Pick<SlackConfig, 'approverChannels'>>;
  /** Approver groups (`groups` of the server config): whom an approver channel's card mentions. */
  groups?: Record<string, string[]>;
  buildUrl(id: string): string | undefined;
  /** Each user's own DM choice (`notify me …`), overriding `config.dmRequester`. */
  notifyPrefs?: Pick<NotifyPrefs, 'get'>;
  /** The first line of a build's commit message, best effort (shown on approval cards). */
  commitTitle?(build: Build): Promise<string | undefined>;
  /** Environment, commit range and gating stages for a checkpoint's card, best effort. */
  approvalFacts?(build: Build, stage: string): Promise<ApprovalFacts | undefined>;
  log: Logger;
}

/** Where a build is reported and what that channel wants to hear. */
interface Target {
  channel: string;
  /** Started from this channel: the whole story is told, whatever the channel settings. */
  own: boolean;
  notify: Set<SlackNotify>;
}

const failureLines = 30;

/**
 * The build thread: one root message per build, the build's live summary (updated in place),
 * thread replies for checkpoints and published deliverables, a live-log message for each step
 * that runs long enough to be worth following (`slack.liveLogAfterMs`), and on failure the
 * failing step's last lines, a link and the full log as a file. Builds started from Slack go to their channel; others go to the
 * configured default channel, filtered by its notification settings.
 */
export class ThreadReporter implements EventHandler {
  readonly name = 'slack-thread';
  /** Root-message writes (post + updates), for the R24 budget check. */
  rootWrites = 0;
  constructor(private readonly deps: ThreadReporterDeps) {}

  async handle(event: StoredEvent): Promise<void> {
    if (!('buildId' in event) || !event.buildId) return;
    const build = await this.deps.builds.get(event.buildId);
    if (!build) return;
    const target = this.targetOf(build);
    if (!target) return;
    const wants = (kind: SlackNotify) => target.own || target.notify.has('all') || target.notify.has(kind);
    switch (event.type) {
      case 'build.created':
        if (wants('started')) await this.ensureRoot(build, target);
        return;
      case 'build.status':
        await this.onBuildStatus(build, target, wants);
        return;
      case 'stage.status': {
        // The root is the build's one live summary (stage and step lines with durations): it is
        // edited when a stage starts or waits, and when one ends while another still runs; a
        // stage that ends otherwise shows when the next one starts or the build ends, which is
        // what keeps a sequential build's thread short. A stage reply is posted only for what
        // the root does not say (the stage's published deliverables), and always before the
        // root turns final: the root is rendered from the build as it is now, and once the build
        // has ended only its own build.status event turns the root final.
        const root = await this.deps.store.root(build.id);
        const stage = build.stages.find((s) => s.name === event.stage);
        if (root && stage && wants('stages') && isTerminal(event.status) && stagePublishLines(stage, build.published).length > 0) {
          await this.deps.api.chat.postMessage({
            channel: root.channel,
            thread_ts: root.ts,
            ...renderStage({ ...stage, status: event.status }, build.published),
          });
        }
        const othersRunning = build.stages.some((s) => s.name !== event.stage && s.status === 'running');
        const showNow = event.status === 'running' || event.status === 'waiting' || (isTerminal(event.status) && othersRunning);
        if (!isTerminal(build.status) && showNow) await this.updateRoot(build);
        return;
      }
      case 'log.chunk': {
        // A step that already ended gets its final edit from `step.status`; a late chunk must not reopen it.
        const step = build.stages.find((s) => s.name === event.stage)?.steps.find((s) => s.name === event.step);
        const root = wants('stages') && step && !isTerminal(step.status) ? await this.deps.store.root(build.id) : null;
        if (root) this.deps.liveLog.touch(build.id, event.stage, event.step, root);
        return;
      }
      case 'step.status':
        if (isTerminal(event.status)) await this.onStepEnd(build, target, event.stage, event.step, event.status, wants);
        return;
      case 'checkpoint.waiting': {
        if (!wants('approvals')) return;
        const root = await this.ensureRoot(build, target);
        if (!(await this.deps.store.once(build.id, `cp-posted:${event.stage}`))) return;
        const approval = isApproval(build, event.stage);
        const buildUrl = this.deps.buildUrl(build.id);
        const [commitTitle, facts] = await Promise.all([
          this.deps.commitTitle?.(build),
          this.deps
            .approvalFacts?.(build, event.stage)
            .catch((err: unknown) => void this.deps.log.warn({ err, buildId: build.id }, 'approval card facts unavailable')),
        ]);
        const about = { build, ...(buildUrl ? { buildUrl } : {}), ...(commitTitle ? { commitTitle } : {}), ...(facts ? { facts } : {}) };
        // The approvers' copy first, so the thread's card can point at it.
        const where = this.deps.config.approverChannels?.[event.approvers];
        if (where) {
          const mention = approverMention(this.deps.groups?.[event.approvers] ?? [], where.userGroup);
          const copy = await this.deps.api.chat.postMessage({
            channel: where.channel,
            unfurl_links: false,
            ...renderCheckpoint(event, approval, { ...about, ...(mention ? { mention } : {}) }),
          });
          if (copy.ts) await this.deps.store.set(build.id, `cp-copy:${event.stage}`, `${copy.channel ?? where.channel} ${copy.ts}`);
        }
        const card = renderCheckpoint(event, approval, { ...about, ...(where ? { approverChannel: where.channel } : {}) });
        const posted = await this.deps.api.chat.postMessage({ channel: root.channel, thread_ts: root.ts, unfurl_links: false, ...card });
        if (posted.ts) await this.deps.store.set(build.id, `cp:${event.stage}`, posted.ts);
        if (await this.dmWanted(build, 'waiting'))
          await this.dmRequester(build, `cp:${event.stage}`, renderWaitingDm(build, event.stage, event.approvers, this.deps.buildUrl(build.id)));
        return;
      }
      case 'checkpoint.decided': {
        // Every copy of the card says who decided and when, without buttons; the requester is told.
        const root = await this.deps.store.root(build.id);
        const ts = await this.deps.store.get(build.id, `cp:${event.stage}`);
        const copy = (await this.deps.store.get(build.id, `cp-copy:${event.stage}`))?.split(' ');
        const at = build.stages.find((s) => s.name === event.stage)?.checkpointState?.decision?.at ?? event.at;
        const approval = isApproval(build, event.stage);
        const decided = renderDecided(event, event.decision, event.actor, at, approval);
        if (copy?.[0] && copy[1]) await this.deps.api.chat.update({ channel: copy[0], ts: copy[1], ...decided });
        if (root && ts) await this.deps.api.chat.update({ channel: root.channel, ts, ...decided });
        if ((root || copy) && (await this.dmWanted(build, 'decided'))) {
          await this.dmRequester(
            build,
            `cp-decided:${event.stage}`,
            renderDecisionDm(build, event.stage, event.decision, event.actor, at, approval, this.deps.buildUrl(build.id)),
          );
        }
        return;
      }
      case 'deploy.status': {
        // A deploy of this build's image ended: one reply in the build's thread, once.
        if (!isDeployFinished(event.state)) return;
        const root = await this.deps.store.root(build.id);
        if (!root || !(await this.deps.store.once(build.id, `deploy:${event.deployId}`))) return;
        await this.deps.api.chat.postMessage({ channel: root.channel, thread_ts: root.ts, text: escapeSlack(event.text) });
        return;
      }
      default:
        return;
    }
  }

  private targetOf(build: Build): Target | null {
    const chat = build.trigger.chat;
    const own = chat?.platform === 'slack';
    const channel = own ? chat.channel : this.deps.config.defaultChannel;
    if (!channel) return null;
    const notify = new Set<SlackNotify>(this.deps.config.channels[channel]?.notify ?? ['all']);
    return { channel, own, notify };
  }

  private async ensureRoot(build: Build, target: Target): Promise<ThreadRef> {
    const existing = await this.deps.store.root(build.id);
    if (existing) return existing;
    this.rootWrites++;
    const posted = await this.deps.api.chat.postMessage({ channel: target.channel, unfurl_links: false, ...renderRoot(build, this.deps.buildUrl(build.id)) });
    const ref = { channel: posted.channel ?? target.channel, ts: posted.ts ?? '' };
    await this.deps.store.setRoot(build.id, ref);
    return ref;
  }

  private async updateRoot(build: Build): Promise<ThreadRef | null> {
    const root = await this.deps.store.root(build.id);
    if (!root) return null;
    this.rootWrites++;
    await this.deps.api.chat.update({ channel: root.channel, ts: root.ts, ...renderRoot(build, this.deps.buildUrl(build.id)) });
    return root;
  }

  private async onBuildStatus(build: Build, target: Target, wants: (k: SlackNotify) => boolean): Promise<void> {
    const failed = build.status === 'failed' || build.status === 'failed_infra';
    if (failed && wants('failures')) await this.ensureRoot(build, target);
    if (build.status === 'success' && wants('successes')) await this.ensureRoot(build, target);
    // A running build shows by its stages' lines (a stage start edits the root); waiting and the end edit it now.
    if (build.status !== 'running') await this.updateRoot(build);
    if (isTerminal(build.status) && (await this.dmWanted(build, failed ? 'failed' : 'finished')))
      await this.dmRequester(build, build.status, renderFinishedDm(build, this.deps.buildUrl(build.id)));
  }

  private async onStepEnd(build: Build, target: Target, stage: string, step: string, status: string, wants: (k: SlackNotify) => boolean): Promise<void> {
    const reportFailure = status === 'failed' && wants('failures');
    const root = reportFailure ? await this.ensureRoot(build, target) : await this.deps.store.root(build.id);
    if (!root) return;
    if (wants('stages')) await this.deps.liveLog.finish(build.id, stage, step, root);
    if (!reportFailure) return;
    const runs = build.stages.find((s) => s.name === stage)?.steps.find((s) => s.name === step)?.runs ?? 0;
    if (!(await this.deps.store.once(build.id, `failed:${stage}/${step}:${runs}`))) return;
    const url = this.deps.buildUrl(build.id);
    const tail = await this.deps.logs.tail(build.id, stage, step, failureLines);
    await this.deps.api.chat.postMessage({
      channel: root.channel,
      thread_ts: root.ts,
      unfurl_links: false,
      ...renderFailure(
        build,
        stage,
        step,
        tail.map((l) => l.text),
        url,
      ),
    });
    const all = await this.deps.logs.read(build.id, stage, step);
    await this.deps.api.filesUploadV2({
      channel_id: root.channel,
      thread_ts: root.ts,
      filename: `build-${build.id}-${stage}-${step}.log`,
      title: `Log of ${stage} › ${step}`,
      content: all.map((l) => l.text).join('\n') + '\n',
    });
  }

  /** Whether the requester wants a DM about `what`: their own `notify me` choice, else the server's `dmRequester`. */
  private async dmWanted(build: Build, what: 'failed' | 'finished' | 'waiting' | 'decided'): Promise<boolean> {
    return wantsDm(await dmChoice(this.deps.notifyPrefs, build.trigger.actor.id, this.deps.config.dmRequester), what);
  }

  /** A DM to the requester (Slack users only), once per `what`. */
  private async dmRequester(build: Build, what: string, msg: SlackMessage): Promise<void> {
    const m = /^slack:[A-Z0-9]+\/([A-Z0-9]+)$/.exec(build.trigger.actor.id);
    if (!m?.[1] || !(await this.deps.store.once(build.id, `dm:${what}:${build.attempt}`))) return;
    const opened = await this.deps.api.conversations.open({ users: m[1] });
    const channel = opened.channel?.id;
    if (channel) await this.deps.api.chat.postMessage({ channel, ...msg });
  }
}

import { stepEnding } from '../../domain/step-ending.js';
import type { Actor, Build } from '../../domain/build.js';
import { shortSha } from '../../domain/build.js';
import type { RunStatus } from '../../domain/status.js';
import { ranFor } from '../../domain/human-time.js';
import { checkpointWords, type CheckpointInfo } from '../slack/render-build.js';
import { silentMention, topicName, zulipCodeBlock, zulipText, zulipTime } from './zulip-markdown.js';
import type { ApprovalFacts } from '../approval-facts.js';
import { describeApprovalFacts } from '../describe-approval-facts.js';

/** Live-log excerpts keep the last this many characters (a Zulip message holds 10,000). */
export const excerptChars = 3500;
const failureChars = 6000;

/** Emoji that mean pass / fail on a checkpoint card: Zulip names and Unicode code points. */
export const passEmoji = {
  name: 'check',
  codes: ['2705', '2714', '1f44d'],
  names: ['check', 'white_check_mark', 'heavy_check_mark', 'check_mark', '+1', 'thumbs_up'],
};
export const failEmoji = {
  name: 'cross_mark',
  codes: ['274c', '274e', '1f44e'],
  names: ['cross_mark', 'x', 'negative_squared_cross_mark', '-1', 'thumbs_down'],
};

const emoji: Record<RunStatus, string> = {
  pending: ':white_circle:',
  queued: ':hourglass:',
  running: ':running:',
  waiting: ':pause_button:',
  success: ':check:',
  failed: ':cross_mark:',
  failed_infra: ':warning:',
  cancelled: ':stop_sign:',
  skipped: ':fast_forward:',
};

/** Who: a Zulip actor of this realm as a silent mention, anyone else by escaped name and platform. */
export function actorLabel(actor: Actor, realmHost: string): string {
  const id = zulipUserId(actor.id, realmHost);
  if (id !== null) return silentMention(actor.name, id);
  const platform = actor.id.split(':')[0] ?? '';
  return `${zulipText(actor.name)}${platform && platform !== 'zulip' ? ` (${zulipText(platform)})` : ''}`;
}

/** The Zulip user id in `zulip:<realm-host>/<id>` when the host is ours, else null. */
export function zulipUserId(actorId: string, realmHost: string): number | null {
  const m = /^zulip:([^/]+)\/(\d{1,12})$/.exec(actorId);
  return m && m[1] === realmHost ? Number(m[2]) : null;
}

/** The topic a build's story is told in: `build #42 demo#master`. */
export function buildTopic(build: Pick<Build, 'id' | 'repo' | 'ref'>): string {
  return topicName(`build #${build.id} ${build.repo}#${build.ref}`);
}

/** The root message, edited in place: status, facts, one line per stage, and what to type. */
export function renderRoot(build: Build, realmHost: string, bot: string, buildUrl?: string): string {
  const lines = [`${emoji[build.status]} **Build #${build.id} ${zulipText(build.repo)}#${zulipText(build.ref)}: ${build.status}**`];
  const link = buildUrl ? ` · [build page](${buildUrl})` : '';
  lines.push(
    `Commit \`${shortSha(build.sha) || '…'}\` · started by ${actorLabel(build.trigger.actor, realmHost)} via ${zulipText(build.trigger.source)}${link}`,
  );
  if (build.error) lines.push(`> ${zulipText(build.error.message).replace(/\n/g, ' ')}`);
  for (const s of build.stages) {
    const steps = s.steps
      .filter((st) => st.status !== 'pending')
      .map((st) => {
        const ending = stepEnding(st);
        const ran = ranFor(st);
        return `${zulipText(st.name)}${ran ? ` ${ran}` : ''}${ending ? ` (${zulipText(ending)})` : ''}`;
      });
    const ran = ranFor(s);
    lines.push(`- ${emoji[s.status]} **${zulipText(s.name)}** ${s.status}${ran ? ` ${ran}` : ''}${steps.length ? ` — ${steps.join(', ')}` : ''}`);
  }
  const finished = ['success', 'failed', 'failed_infra', 'cancelled', 'skipped'].includes(build.status);
  if (!finished) lines.push(`Stop it: \`${bot} cancel ${build.id}\``);
  else if (build.status !== 'success') lines.push(`Again: \`${bot} retry ${build.id}\` (or \`retry ${build.id} --failed\`)`);
  return lines.join('\n');
}

/** The live-log message: the last ~3.5k characters of a step's log, in a code block. */
export function renderLogExcerpt(stage: string, step: string, lines: string[], done: boolean): string {
  const text = lastLinesWithin(lines, excerptChars);
  return `${done ? ':page_facing_up:' : ':running:'} Log of ${zulipText(stage)} › ${zulipText(step)}${done ? '' : ' (live)'}\n${zulipCodeBlock(text || '(no output yet)')}`;
}

/** The last whole lines that fit `budget` characters; a single huge line keeps its end. */
export function lastLinesWithin(lines: string[], budget: number): string {
  const kept: string[] = [];
  let used = 0;
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] ?? '';
    if (used + line.length + 1 > budget) {
      if (kept.length === 0) kept.push(`…${line.slice(Math.max(0, line.length - Math.floor(budget / 5)))}`);
      break;
    }
    kept.push(line);
    used += line.length + 1;
  }
  return kept.reverse().join('\n');
}

/** On failure: the last lines of the failing step and a link to the full log. */
export function renderFailure(build: Build, stage: string, step: string, lines: string[], buildUrl?: string): string {
  const run = build.stages.find((s) => s.name === stage)?.steps.find((s) => s.name === step);
  const ending = run ? stepEnding(run) : '';
  const body = lastLinesWithin(lines, failureChars);
  const head = `:cross_mark: **Step ${zulipText(stage)} › ${zulipText(step)} failed${ending ? ` (${zulipText(ending)})` : ''}.** Last ${body.split('\n').length} lines:`;
  const link = buildUrl ? `Full log: [build #${build.id}](${buildUrl})` : `Full log: \`bosun logs ${build.id} ${stage}/${step}\``;
  return `${head}\n${zulipCodeBlock(body)}\n${link}`;
}

/** What a Zulip card is about beyond the checkpoint: the build and the approval facts (src/chat/approval-facts.ts). */
export interface ZulipCardContext {
  build: Pick<Build, 'repo' | 'ref' | 'sha' | 'trigger'>;
  realmHost: string;
  buildUrl?: string;
  facts?: ApprovalFacts;
}

/**
 * Checkpoint waiting: what is approved (repository, environment, commit, who asked, the commits
 * since what runs there and the gates, escaped), instructions, checklist, who may decide, and
 * how (reactions or commands).
 */
export function renderCheckpoint(cp: CheckpointInfo, isPromotion: boolean, bot: string, reactions: boolean, ctx?: ZulipCardContext): string {
  const words = checkpointWords(isPromotion);
  const how = reactions
    ? `React :${passEmoji.name}: to ${words.pass.toLowerCase()} or :${failEmoji.name}: to ${words.fail.toLowerCase()} — or type \`${bot} ${words.pass.toLowerCase()} ${cp.buildId}\` / \`${bot} ${words.fail.toLowerCase()} ${cp.buildId}\`.`
    : `Type \`${bot} ${words.pass.toLowerCase()} ${cp.buildId}\` or \`${bot} ${words.fail.toLowerCase()} ${cp.buildId}\`.`;
  const buildRef = ctx?.buildUrl ? `[build #${cp.buildId}](${ctx.buildUrl})` : `build #${cp.buildId}`;
  return [
    `:raised_hand: **${words.title}** for stage **${zulipText(cp.stage)}** of ${buildRef}`,
    ...(ctx ? factLines(ctx) : []),
    zulipText(cp.instructions),
    ...cp.checklist.map((c) => `- ${zulipText(c)}`),
    `Approvers: ${zulipText(cp.approvers)} · Deadline: ${zulipTime(cp.deadline)}${cp.resource ? ` · Resource: ${zulipText(cp.resource)}` : ''}`,
    how,
  ]
    .filter(Boolean)
    .join('\n');
}

/** The card's facts in Zulip markdown, every untrusted piece escaped (R12). */
function factLines(ctx: ZulipCardContext): string[] {
  const b = ctx.build;
  const env = ctx.facts?.environment ? ` · **Environment** ${zulipText(ctx.facts.environment)}` : '';
  const lines = [
    `**Repository** ${zulipText(b.repo)}#${zulipText(b.ref)}${env} · **Commit** \`${shortSha(b.sha) || '…'}\` · **Asked by** ${actorLabel(b.trigger.actor, ctx.realmHost)}`,
  ];
  if (!ctx.facts) return lines;
  const d = describeApprovalFacts(ctx.facts);
  if (d.range) lines.push(`**${zulipText(d.range)}**${d.compareUrl ? ` · [compare](${d.compareUrl})` : ''}`);
  for (const c of d.commits) lines.push(`- \`${c.sha}\` ${zulipText(c.title)} — ${zulipText(c.author)}`);
  if (d.more) lines.push(zulipText(d.more));
  if (d.gatesOf) lines.push(`**${zulipText(d.gatesOf)}**: ${d.gates.map((g) => `${emoji[g.status]} ${zulipText(g.text)}`).join(' · ')}`);
  return lines;
}

/** The card after the decision: who decided, when, and where from. */
export function renderDecided(
  cp: { buildId: string; stage: string },
  decision: 'pass' | 'fail' | 'timeout',
  actor: Actor,
  at: string,
  isPromotion: boolean,
  realmHost: string,
): string {
  const verb = decision === 'timeout' ? 'Timed out' : decision === 'pass' ? (isPromotion ? 'Approved' : 'Passed') : isPromotion ? 'Rejected' : 'Failed';
  const who = decision === 'timeout' ? '' : ` by ${actorLabel(actor, realmHost)}`;
  return `${decision === 'pass' ? ':check:' : ':cross_mark:'} **${verb}**${who} at ${zulipTime(at)} — stage **${zulipText(cp.stage)}** of build #${cp.buildId}`;
}

export function renderFinishedDm(build: Build, where: string, buildUrl?: string): string {
  return `${emoji[build.status]} Your build #${build.id} ${zulipText(build.repo)}#${zulipText(build.ref)} finished: **${build.status}** — ${where}${buildUrl ? ` · [details](${buildUrl})` : ''}`;
}

export function renderWaitingDm(build: Build, stage: string, approvers: string, where: string, buildUrl?: string): string {
  return `${emoji.waiting} Your build #${build.id} ${zulipText(build.repo)}#${zulipText(build.ref)} is waiting at stage ${zulipText(stage)} for ${zulipText(approvers)} — ${where}${buildUrl ? ` · [details](${buildUrl})` : ''}`;
}

/** A command reply: untrusted text escaped, code lines in a block. */
export function renderReply(reply: { text: string; code?: string[]; kind?: string }): string {
  // Help is laid out in columns: a code block keeps it (and its `<placeholders>`) as written.
  const text = reply.kind === 'help' ? zulipCodeBlock(reply.text) : zulipText(reply.text);
  return `${text}${reply.code?.length ? `\n${zulipCodeBlock(reply.code.join('\n'))}` : ''}`;
}

import { stepEnding } from '../../domain/step-ending.js';
import type { Actor, Build, StageRun } from '../../domain/build.js';
import { shortSha } from '../../domain/build.js';
import type { RunStatus } from '../../domain/status.js';
import { codeBlock, escapeSlack } from '../../domain/escape-chat.js';
import { ranFor } from '../../domain/human-time.js';
import { slackDate } from './slack-date.js';
import type { Publication } from '../../domain/publication.js';
import { stagePublishLines } from '../../domain/describe-publication.js';
import { artifactsText, failingTestsText } from './render-outputs.js';
import type { ApprovalFacts } from '../approval-facts.js';

/** A message as Slack takes it: fallback text plus Block Kit blocks. Pure data, no I/O. */
export interface SlackMessage {
  text: string;
  blocks?: SlackBlock[];
}
export type SlackBlock = Record<string, unknown>;

/** Action ids of the buttons Bosun renders; the listeners route on these. */
export const actionIds = {
  cancel: 'bosun_cancel',
  retry: 'bosun_retry',
  viewLog: 'bosun_view_log',
  pass: 'bosun_pass',
  fail: 'bosun_fail',
  leaseExtend: 'bosun_lease_extend',
  leaseRelease: 'bosun_lease_release',
} as const;

/** Live-log excerpts keep the last this many characters (a section holds 3,000; a message 40,000). */
export const excerptChars = 3500;
/** The failure excerpt's budget (a message holds 40,000 characters; keep it readable). */
const failureChars = 8000;

const emoji: Record<RunStatus, string> = {
  pending: ':white_circle:',
  queued: ':hourglass_flowing_sand:',
  running: ':arrows_counterclockwise:',
  waiting: ':double_vertical_bar:',
  success: ':white_check_mark:',
  failed: ':x:',
  failed_infra: ':warning:',
  cancelled: ':black_square_for_stop:',
  skipped: ':heavy_minus_sign:',
};

const finished = new Set<RunStatus>(['success', 'failed', 'failed_infra', 'cancelled', 'skipped']);

/** `<@U123>` for a Slack actor (ids are validated, so the mention is ours), else the escaped name. */
export function actorLabel(actor: Actor): string {
  const m = /^slack:[A-Z0-9]+\/([A-Z0-9]+)$/.exec(actor.id);
  return m ? `<@${m[1]}>` : escapeSlack(actor.name);
}

function button(text: string, actionId: string, value: string, style?: 'primary' | 'danger', url?: string): SlackBlock {
  return { type: 'button', text: { type: 'plain_text', text }, action_id: actionId, value, ...(style ? { style } : {}), ...(url ? { url } : {}) };
}

/**
 * The build's root message, its live summary: status, repo, ref, commit, requester, a line per
 * stage with its steps and their durations; Cancel / Retry / View log (the web log).
 */
export function renderRoot(build: Build, buildUrl?: string): SlackMessage {
  const title = `${emoji[build.status]} Build #${build.id} ${escapeSlack(build.repo)}#${escapeSlack(build.ref)}: ${build.status}`;
  const stages = fitLines(build.stages.map(stageLine).join('\n'), sectionChars);
  const facts = `*Commit* \`${shortSha(build.sha) || '…'}\` · *Started by* ${actorLabel(build.trigger.actor)} via ${escapeSlack(build.trigger.source)}`;
  const error = build.error ? `\n${escapeSlack(fitLines(build.error.message, 2500))}` : '';
  const buttons: SlackBlock[] = [];
  if (!finished.has(build.status)) buttons.push(button('Cancel', actionIds.cancel, build.id, 'danger'));
  else if (build.status !== 'success') buttons.push(button('Retry', actionIds.retry, build.id, 'primary'));
  if (buildUrl) buttons.push(button('View log', actionIds.viewLog, build.id, undefined, buildUrl));
  const blocks: SlackBlock[] = [
    { type: 'section', text: { type: 'mrkdwn', text: `*${title}*${error}` } },
    { type: 'context', elements: [{ type: 'mrkdwn', text: facts }] },
  ];
  if (stages) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: stages }] });
  const artifacts = finished.has(build.status) ? artifactsText(build) : '';
  if (artifacts) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: artifacts }] });
  if (buttons.length) blocks.push({ type: 'actions', block_id: `build:${build.id}`, elements: buttons });
  return { text: title, blocks };
}

/** A thread reply for a stage transition. */
export function renderStage(stage: StageRun, published?: readonly Publication[]): SlackMessage {
  const steps = stage.steps
    .filter((s) => s.status !== 'pending')
    .map((s) => {
      const ending = stepEnding(s);
      return `${emoji[s.status]} ${escapeSlack(s.name)}${withSpace(ranFor(s))}${ending ? ` (${escapeSlack(ending)})` : ''}`;
    });
  const publish = stagePublishLines(stage, published)
    .map((line) => `\n${escapeSlack(line)}`)
    .join('');
  return {
    text: `${emoji[stage.status]} Stage *${escapeSlack(stage.name)}*: ${stage.status}${withSpace(ranFor(stage))}${steps.length ? ` — ${steps.join(', ')}` : ''}${publish}`,
  };
}

/**
 * A stage's line in the root: `✅ *test* 4s — ✅ unit 3s · ✅ lint 1s`; steps not started are
 * left out, a step that ended badly says how (`exit 1`).
 */
function stageLine(stage: StageRun): string {
  const steps = stage.steps
    .filter((s) => s.status !== 'pending')
    .map((s) => {
      const ending = stepEnding(s);
      return `${emoji[s.status]} ${escapeSlack(s.name)}${withSpace(ranFor(s))}${ending ? ` (${escapeSlack(ending)})` : ''}`;
    });
  return `${emoji[stage.status]} *${escapeSlack(stage.name)}*${withSpace(ranFor(stage))}${steps.length ? ` — ${steps.join(' · ')}` : ''}`;
}

/** ` 12s` for a non-empty duration, else nothing. */
function withSpace(text: string): string {
  return text ? ` ${text}` : '';
}

/** The live-log message: the last ~3.5k characters of a step's log, in a code block. */
export function renderLogExcerpt(stage: string, step: string, lines: string[], done: boolean): SlackMessage {
  const text = lastLinesWithin(lines, excerptChars);
  const head = `${done ? ':page_facing_up:' : ':arrows_counterclockwise:'} Log of ${escapeSlack(stage)} › ${escapeSlack(step)}${done ? '' : ' (live)'}`;
  return { text: `${head}\n${codeBlock(text || '(no output yet)')}` };
}

/** The last whole lines whose rendered (escaped) size fits `budget`; a single huge line keeps its end. */
function lastLinesWithin(lines: string[], budget: number): string {
  const kept: string[] = [];
  let used = 0;
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] ?? '';
    const cost = codeBlock(line).length - 7 + 1;
    if (used + cost > budget) {
      if (kept.length === 0) kept.push(`…${line.slice(Math.max(0, line.length - Math.floor(budget / 5)))}`);
      break;
    }
    kept.push(line);
    used += cost;
  }
  return kept.reverse().join('\n');
}

/** On failure: the last lines of the failing step and a link to the full log. */
export function renderFailure(build: Build, stage: string, step: string, lines: string[], buildUrl?: string): SlackMessage {
  const run = build.stages.find((s) => s.name === stage)?.steps.find((s) => s.name === step);
  const ending = run ? stepEnding(run) : '';
  const body = lastLinesWithin(lines, failureChars);
  const head = `:x: Step ${escapeSlack(stage)} › ${escapeSlack(step)} failed${ending ? ` (${escapeSlack(ending)})` : ''}. Last ${body.split('\n').length} lines:`;
  const link = buildUrl ? `\nFull log: <${buildUrl}|build #${build.id}>` : '';
  const tests = failingTestsText(build.stages.find((s) => s.name === stage));
  return { text: `${tests ? `${tests}\n` : ''}${head}\n${codeBlock(body)}${link}` };
}

export interface CheckpointInfo {
  buildId: string;
  stage: string;
  instructions: string;
  checklist: string[];
  approvers: string;
  deadline: string;
  resource?: string;
}

/** A promotion (stage that deploys) asks for Approve / Reject; a manual test for Pass / Fail. */
export function checkpointWords(isPromotion: boolean): { pass: string; fail: string; title: string } {
  return isPromotion ? { pass: 'Approve', fail: 'Reject', title: 'Approval needed' } : { pass: 'Pass', fail: 'Fail', title: 'Manual check needed' };
}

/** What a card is about, beyond the checkpoint itself: the build, who asked, where else it is. */
export interface CheckpointContext {
  build: Pick<Build, 'id' | 'repo' | 'ref' | 'sha' | 'trigger'>;
  buildUrl?: string;
  /** The first line of the commit's message, when known. */
  commitTitle?: string;
  /** First line of the card: who must act (the approver channel's copy). */
  mention?: string;
  /** The channel the approvers' copy is in (shown on the thread's card). */
  approverChannel?: string;
  /** Environment, commit range and gating stages (src/chat/approval-facts.ts). */
  facts?: ApprovalFacts;
}

/** Commit titles listed on a card; the rest are counted ("and N more"). */
export const listedCommits = 5;
/** Authors named on a card; the rest are counted. */
const listedAuthors = 8;
/** A section's text holds at most 3,000 characters; keep a margin. */
const sectionChars = 2900;

/** Checkpoint waiting: what is asked of whom, for which commits and gate results, by when, and the two buttons. */
export function renderCheckpoint(cp: CheckpointInfo, isPromotion: boolean, ctx?: CheckpointContext): SlackMessage {
  const words = checkpointWords(isPromotion);
  const value = `${cp.buildId}|${cp.stage}`;
  const b = ctx?.build;
  const facts = ctx?.facts;
  const buildRef = ctx?.buildUrl ? `<${ctx.buildUrl}|build #${cp.buildId}>` : `build #${cp.buildId}`;
  const head = [
    ctx?.mention ?? '',
    `:raised_hand: *${words.title}* for stage *${escapeSlack(cp.stage)}* of ${buildRef}`,
    b
      ? `*Repository* ${escapeSlack(b.repo)}#${escapeSlack(b.ref)}${facts?.environment ? ` · *Environment* ${escapeSlack(facts.environment)}` : ''} · *Commit* \`${shortSha(b.sha) || '…'}\`${ctx?.commitTitle ? ` ${escapeSlack(ctx.commitTitle.slice(0, 200))}` : ''} · *Asked by* ${actorLabel(b.trigger.actor)}`
      : '',
  ];
  const ask = [escapeSlack(cp.instructions), ...cp.checklist.map((c) => `• ${escapeSlack(c)}`)];
  const foot = [
    `Approvers: ${escapeSlack(cp.approvers)} · Deadline: ${slackDate(cp.deadline)}${cp.resource ? ` · Resource: ${escapeSlack(cp.resource)}` : ''}`,
    ctx?.approverChannel ? `The approvers were asked in <#${ctx.approverChannel}>.` : '',
  ];
  const sections = [head, facts ? [commitsText(facts)] : [], facts ? [gatesText(facts)] : [], ask, foot]
    .map((lines) => fitLines(lines.filter(Boolean).join('\n'), sectionChars))
    .filter(Boolean);
  const confirm = facts?.productionLike ? (verb: string) => confirmDialog(verb, cp, b?.repo, facts.environment) : undefined;
  return {
    text: sections.join('\n'),
    blocks: [
      ...sections.map((text) => ({ type: 'section', text: { type: 'mrkdwn', text } })),
      {
        type: 'actions',
        block_id: `checkpoint:${value}`,
        elements: [
          { ...button(words.pass, actionIds.pass, value, 'primary'), ...(confirm ? { confirm: confirm(words.pass) } : {}) },
          { ...button(words.fail, actionIds.fail, value, 'danger'), ...(confirm ? { confirm: confirm(words.fail) } : {}) },
        ],
      },
    ],
  };
}

/** `*3 commits* since …, by A, B (compare)` and the first titles; says so when the range is unknown. */
function commitsText(facts: ApprovalFacts): string {
  const since = facts.since ? escapeSlack(facts.since) : '';
  const r = facts.range;
  if (!r) return since ? `*Commits* since ${since}: not known (the mirror could not say)` : '';
  if (r.total === 0) return `*No new commits* since ${since || 'the last one'}`;
  const authors = [...new Set(r.commits.map((c) => c.author))];
  const named = authors
    .slice(0, listedAuthors)
    .map((a) => escapeSlack(a.slice(0, 60)))
    .join(', ');
  const others = authors.length > listedAuthors ? ` and ${authors.length - listedAuthors} more` : '';
  const readNote = r.total > r.commits.length ? ` (authors of the newest ${r.commits.length})` : '';
  const compare = r.compareUrl ? ` · <${r.compareUrl}|compare>` : '';
  const lines = r.commits
    .slice(0, listedCommits)
    .map((c) => `• \`${shortSha(c.sha)}\` ${escapeSlack(c.title.slice(0, 200))} — ${escapeSlack(c.author.slice(0, 60))}`);
  const more = r.total - lines.length;
  return [
    `*${r.total} commit${r.total === 1 ? '' : 's'}* since ${since || `\`${shortSha(r.base)}\``} by ${named}${others}${readNote}${compare}`,
    ...lines,
    ...(more > 0 ? [`and ${more} more`] : []),
  ].join('\n');
}

/** `*Gates* (build #4): ✅ unit 12s · ❌ e2e 3m 05s, 2 failing tests`. */
function gatesText(facts: ApprovalFacts): string {
  if (facts.gates.length === 0) return '';
  const parts = facts.gates.map((s) => {
    const bad = s.tests ? s.tests.failed + s.tests.errors : 0;
    const tests = s.tests ? (bad > 0 ? `, ${bad} failing test${bad === 1 ? '' : 's'} of ${s.tests.total}` : `, ${s.tests.total} tests passed`) : '';
    // The checkpoint's own stage waits once its steps passed: show how they went.
    const waiting = s.status === 'waiting' && s.steps.every((st) => st.status === 'success' || st.status === 'skipped');
    const lastEnd = s.steps
      .map((st) => st.finishedAt ?? '')
      .sort()
      .pop();
    const ran = waiting ? ranFor({ ...(s.startedAt ? { startedAt: s.startedAt } : {}), ...(lastEnd ? { finishedAt: lastEnd } : {}) }) : ranFor(s);
    return `${emoji[waiting ? 'success' : s.status]} ${escapeSlack(s.name)} ${waiting ? 'steps passed' : s.status}${withSpace(ran)}${tests}`;
  });
  return `*Gates*${facts.gatesOf ? ` (build #${facts.gatesOf})` : ''}: ${parts.join(' · ')}`;
}

/** Slack's confirmation dialog (plain text: title ≤ 100, text ≤ 300, buttons ≤ 30 characters). */
function confirmDialog(verb: string, cp: CheckpointInfo, repo: string | undefined, environment: string | undefined): SlackBlock {
  const what = `${repo ?? `build #${cp.buildId}`}${environment ? ` to ${environment}` : ''}`;
  return {
    title: { type: 'plain_text', text: `${verb}?`.slice(0, 100) },
    text: { type: 'plain_text', text: `${verb} ${what} (stage ${cp.stage} of build #${cp.buildId})?`.slice(0, 300) },
    confirm: { type: 'plain_text', text: verb.slice(0, 30) },
    deny: { type: 'plain_text', text: 'Cancel' },
    ...(verb === 'Reject' || verb === 'Fail' ? { style: 'danger' } : {}),
  };
}

/** After the decision: who decided and when; no buttons. */
export function renderDecided(
  cp: { buildId: string; stage: string },
  decision: 'pass' | 'fail' | 'timeout',
  actor: Actor,
  at: string,
  isPromotion: boolean,
): SlackMessage {
  const words = checkpointWords(isPromotion);
  const verb =
    decision === 'timeout'
      ? 'Timed out'
      : decision === 'pass'
        ? `${words.pass === 'Approve' ? 'Approved' : 'Passed'}`
        : `${words.fail === 'Reject' ? 'Rejected' : 'Failed'}`;
  const who = decision === 'timeout' ? '' : ` by ${actorLabel(actor)}`;
  const text = `${decision === 'pass' ? ':white_check_mark:' : ':x:'} ${verb}${who} ${slackDate(at)} — stage *${escapeSlack(cp.stage)}* of build #${cp.buildId}`;
  return { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] };
}

/**
 * Who an approver channel's card mentions: the Slack user group when configured, else every
 * member of the group with a Slack id (`slack:<team>/<user>`). Empty when there is nobody.
 */
export function approverMention(members: string[], userGroup?: string): string {
  if (userGroup) return `<!subteam^${userGroup}>`;
  return members
    .map((id) => /^slack:[A-Z0-9]+\/([A-Z0-9]+)$/.exec(id)?.[1])
    .filter(Boolean)
    .map((u) => `<@${u}>`)
    .join(' ');
}

/** The DM to the requester when someone decided on their build's checkpoint. */
export function renderDecisionDm(
  build: Build,
  stage: string,
  decision: 'pass' | 'fail' | 'timeout',
  actor: Actor,
  at: string,
  isPromotion: boolean,
  buildUrl?: string,
): SlackMessage {
  const decided = renderDecided({ buildId: build.id, stage }, decision, actor, at, isPromotion).text;
  return { text: `${decided} (${escapeSlack(build.repo)}#${escapeSlack(build.ref)}, your build)${buildUrl ? ` — <${buildUrl}|details>` : ''}` };
}

/** The DM to the requester. */
export function renderFinishedDm(build: Build, buildUrl?: string): SlackMessage {
  return {
    text: `${emoji[build.status]} Your build #${build.id} ${escapeSlack(build.repo)}#${escapeSlack(build.ref)} finished: ${build.status}${buildUrl ? ` — <${buildUrl}|details>` : ''}`,
  };
}

/** The DM to the requester when their build waits for someone. */
export function renderWaitingDm(build: Build, stage: string, approvers: string, buildUrl?: string): SlackMessage {
  return {
    text: `${emoji.waiting} Your build #${build.id} ${escapeSlack(build.repo)}#${escapeSlack(build.ref)} is waiting at stage ${escapeSlack(stage)} for ${escapeSlack(approvers)}${buildUrl ? ` — <${buildUrl}|details>` : ''}`,
  };
}

/**
 * The lease reminder DM: its text (already escaped) and Extend / Release buttons whose values
 * are the commands they run (`renew L-2`, `release L-2`).
 */
export function renderLeaseReminder(text: string, actions: { extend: string; release: string }, leaseId: string): SlackMessage {
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text } },
      {
        type: 'actions',
        block_id: `lease:${leaseId}`,
        elements: [button('Extend', actionIds.leaseExtend, actions.extend, 'primary'), button('Release', actionIds.leaseRelease, actions.release)],
      },
    ],
  };
}

/** A command reply for Slack: untrusted text escaped, code lines in a block. */
export function renderReply(reply: { text: string; code?: string[] }): SlackMessage {
  return { text: `${escapeSlack(reply.text)}${reply.code?.length ? `\n${codeBlock(reply.code.join('\n'))}` : ''}` };
}

/**
 * Whole lines of `text` within `max` characters (a Slack section holds 3000): every spec error
 * fits in practice; past that, a last line says how many more the build page lists.
 */
function fitLines(text: string, max: number): string {
  if (text.length <= max) return text;
  const lines = text.split('\n');
  const kept: string[] = [];
  let size = 0;
  for (const line of lines) {
    if (size + line.length + 1 > max - 80) break;
    kept.push(line);
    size += line.length + 1;
  }
  return [...kept, `… ${lines.length - kept.length} more lines on the build page`].join('\n');
}

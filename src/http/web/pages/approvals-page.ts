import type { Actor, Build, StageRun } from '../../../domain/build.js';
import { shortSha } from '../../../domain/build.js';
import { when } from './bits.js';
import { html, type SafeHtml } from '../html.js';
import type { ApprovalFacts } from '../../../chat/approval-facts.js';
import { describeApprovalFacts } from '../../../chat/describe-approval-facts.js';

/** A stage waiting for people, with its build. */
export interface WaitingCheckpoint {
  build: Build;
  stage: StageRun;
  /** What the card shows beyond the checkpoint: environment, commits since what runs there, gates. */
  facts?: ApprovalFacts;
}

export function waitingCheckpoints(builds: readonly Build[]): WaitingCheckpoint[] {
  return builds.flatMap((build) =>
    build.stages.filter((s) => s.status === 'waiting' && s.checkpointState && !s.checkpointState.decision).map((stage) => ({ build, stage })),
  );
}

/**
 * Approve / Reject (Pass / Fail for a manual check) for a signed-in person. The rules are the
 * pipeline's, not the page's: the POST goes through the same `decide` verb as chat (R9: the
 * requester may not approve; members of the group only; N of M).
 */
export function decisionForms(b: Build, s: StageRun, actor: Actor | null, csrf: string, back: string): SafeHtml {
  if (!actor) return html`<p class="muted">Sign in to approve or reject.</p>`;
  const approval = s.checkpoint?.kind === 'approval';
  const action = (what: 'approve' | 'reject') => `/builds/${b.id}/stages/${encodeURIComponent(s.name)}/${what}`;
  const form = (what: 'approve' | 'reject', label: string) =>
    html`<form class="inline" method="post" action="${action(what)}"><input type="hidden" name="_csrf" value="${csrf}"><input type="hidden" name="back" value="${back}"><button class="${what}" name="decision" value="${what}">${label}</button></form>`;
  const self = actor.id === b.trigger.actor.id;
  return html`<div class="decide">${form('approve', approval ? 'Approve' : 'Pass')} ${form('reject', approval ? 'Reject' : 'Fail')}${self ? html` <span class="muted">(you started this build: your approval will be refused)</span>` : ''}</div>`;
}

export function approvalsPage(waiting: readonly WaitingCheckpoint[], actor: Actor | null, csrf: string): SafeHtml {
  const rows = waiting.map(({ build: b, stage: s, facts }) => {
    const cp = s.checkpointState!;
    return html`<tr data-build="${b.id}" data-stage="${s.name}"><td><a href="/builds/${b.id}">#${b.id}</a> ${b.repo}#${b.ref} <code>${shortSha(b.sha)}</code></td>
<td>${s.name}<div class="muted">${s.checkpoint?.instructions ?? ''}</div>${facts ? factsHtml(facts) : ''}</td><td>${b.trigger.actor.name}</td>
<td>${cp.approvals.length} of ${cp.required} from ${s.checkpoint?.approvers ?? '?'}${cp.approvals.length ? html`<div class="muted">${cp.approvals.map((a) => a.actor.name).join(', ')}</div>` : ''}</td>
<td>${when(cp.deadline)}</td><td>${decisionForms(b, s, actor, csrf, '/approvals')}</td></tr>`;
  });
  return html`<h1>Waiting approvals</h1>
<table id="approvals"><tr><th>build</th><th>stage</th><th>requested by</th><th>approvals</th><th>deadline</th><th></th></tr>
${rows.length ? rows : html`<tr><td colspan="6" class="muted">Nothing is waiting for a person.</td></tr>`}</table>`;
}

const gateMark: Partial<Record<string, string>> = { success: '✅', failed: '❌', failed_infra: '⚠️', cancelled: '⏹', skipped: '➖', waiting: '⏸' };

/** The approval card's facts, every piece escaped by `html`: environment, the commits since what runs there, the gates. */
function factsHtml(facts: ApprovalFacts): SafeHtml {
  const d = describeApprovalFacts(facts);
  const env = facts.environment ? html`<div class="environment">to <strong>${facts.environment}</strong></div>` : '';
  const compare = d.compareUrl && /^https:\/\//.test(d.compareUrl) ? html` · <a href="${d.compareUrl}">compare</a>` : '';
  const range = d.range ? html`<div class="range">${d.range}${compare}</div>` : '';
  const commits = d.commits.length
    ? html`<ul class="commits">${d.commits.map((c) => html`<li><code>${c.sha}</code> ${c.title} — ${c.author}</li>`)}${d.more ? html`<li class="muted">${d.more}</li>` : ''}</ul>`
    : '';
  const gates = d.gatesOf
    ? html`<div class="gates">${d.gatesOf}: ${d.gates.map((g, i) => html`${i ? ' · ' : ''}<span class="gate ${g.status}">${gateMark[g.status] ?? ''} ${g.text}</span>`)}</div>`
    : '';
  return html`<div class="facts">${env}${range}${commits}${gates}</div>`;
}

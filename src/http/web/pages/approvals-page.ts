import type { Actor, Build, StageRun } from '../../../domain/build.js';
import { shortSha } from '../../../domain/build.js';
import { humanTime } from '../../../domain/human-time.js';
import { html, type SafeHtml } from '../html.js';

/** A stage waiting for people, with its build. */
export interface WaitingCheckpoint {
  build: Build;
  stage: StageRun;
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
  const rows = waiting.map(({ build: b, stage: s }) => {
    const cp = s.checkpointState!;
    return html`<tr data-build="${b.id}" data-stage="${s.name}"><td><a href="/builds/${b.id}">#${b.id}</a> ${b.repo}#${b.ref} <code>${shortSha(b.sha)}</code></td>
<td>${s.name}<div class="muted">${s.checkpoint?.instructions ?? ''}</div></td><td>${b.trigger.actor.name}</td>
<td>${cp.approvals.length} of ${cp.required} from ${s.checkpoint?.approvers ?? '?'}${cp.approvals.length ? html`<div class="muted">${cp.approvals.map((a) => a.actor.name).join(', ')}</div>` : ''}</td>
<td>${humanTime(cp.deadline)}</td><td>${decisionForms(b, s, actor, csrf, '/approvals')}</td></tr>`;
  });
  return html`<h1>Waiting approvals</h1>
<table id="approvals"><tr><th>build</th><th>stage</th><th>requested by</th><th>approvals</th><th>deadline</th><th></th></tr>
${rows.length ? rows : html`<tr><td colspan="6" class="muted">Nothing is waiting for a person.</td></tr>`}</table>`;
}

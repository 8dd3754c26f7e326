import type { Actor, Build, Decision, StageRun } from '../../../domain/build.js';
import { shortSha } from '../../../domain/build.js';
import { humanTime } from '../../../domain/human-time.js';
import { isTerminal } from '../../../domain/status.js';
import { html, jsonScript, type SafeHtml } from '../html.js';
import { logSteps } from '../../log-steps.js';
import { buildDuration, runDuration, statusBadge, when } from './bits.js';
import { decisionForms } from './approvals-page.js';
import { deployState } from './environments-page.js';
import type { Deploy } from '../../../domain/deploy.js';
import { shortDigest } from '../../../domain/deploy.js';
import { formatBytes } from '../../../artifacts/artifact-store.js';

/** Stages in columns by how deep their `needs` go: the graph reads left to right. */
export function stageColumns(stages: readonly StageRun[]): StageRun[][] {
  const depth = new Map<string, number>();
  const byName = new Map(stages.map((s) => [s.name, s]));
  const depthOf = (s: StageRun, seen: Set<string>): number => {
    const known = depth.get(s.name);
    if (known !== undefined) return known;
    if (seen.has(s.name)) return 0;
    seen.add(s.name);
    const d = Math.max(-1, ...s.needs.map((n) => (byName.has(n) ? depthOf(byName.get(n)!, seen) : -1))) + 1;
    depth.set(s.name, d);
    return d;
  };
  const columns: StageRun[][] = [];
  for (const s of stages) (columns[depthOf(s, new Set())] ??= []).push(s);
  return columns.filter((c) => c !== undefined);
}

function decisionLine(d: Decision): SafeHtml {
  const verb = d.decision === 'pass' ? 'approved' : d.decision === 'fail' ? 'rejected' : 'timed out';
  return html`<li>${d.decision === 'timeout' ? 'timed out' : html`${verb} by <b>${d.actor.name}</b>`} <span class="muted">(${d.source}, ${when(d.at)})</span></li>`;
}

function stageBox(b: Build, s: StageRun): SafeHtml {
  const cp = s.checkpointState;
  const approvals = cp ? [...cp.approvals, ...(cp.decision && cp.decision.decision !== 'pass' ? [cp.decision] : [])] : [];
  return html`<div class="stage ${s.status}" data-stage="${s.name}"><div class="name">${s.name}</div>
<div class="meta">${statusBadge(s.status)} ${runDuration(s)}${s.needs.length ? html` · needs ${s.needs.join(', ')}` : ''}</div>
${s.notice && s.status === 'queued' ? html`<div class="meta">${s.notice}</div>` : ''}
${cp ? html`<div class="meta">${s.checkpoint?.kind === 'approval' ? 'approval' : 'manual check'}: ${cp.approvals.length} of ${cp.required} from ${s.checkpoint?.approvers ?? '?'}</div>` : ''}
${approvals.length ? html`<ul class="meta approvals">${approvals.map(decisionLine)}</ul>` : ''}
${s.tests ? html`<div class="meta">tests: ${s.tests.total} run, ${s.tests.failed + s.tests.errors} failing, ${s.tests.skipped} skipped</div>` : ''}
</div>`;
}

function testsSection(b: Build): SafeHtml {
  const withTests = b.stages.filter((s) => s.tests && (s.tests.failures.length > 0 || (s.tests.problems ?? []).length > 0));
  if (withTests.length === 0) return html``;
  return html`<h2>Failing tests</h2>${withTests.map((s) => {
    const t = s.tests!;
    const more = t.failed + t.errors - t.failures.length;
    return html`<div class="box" data-tests="${s.name}"><b>${s.name}</b>: ${t.failed + t.errors} of ${t.total} failing
<table>${t.failures.map((f) => html`<tr><td><code>${f.name}</code></td><td>${f.message ?? ''}</td><td class="muted">${f.file ? `${f.file}${f.line ? `:${f.line}` : ''}` : ''}</td></tr>`)}</table>
${more > 0 ? html`<p class="muted">and ${more} more</p>` : ''}
${(t.problems ?? []).map((p) => html`<p class="muted">report problem: ${p}</p>`)}</div>`;
  })}`;
}

function publishedSection(b: Build): SafeHtml {
  if (!b.published?.length) return html``;
  return html`<h2>Published</h2><div class="box" id="published"><ul>${b.published.map((p) =>
    p.kind === 'docker'
      ? html`<li data-image="${p.image}">image <code>${p.ref}</code> <span class="muted">(tag ${p.tag}, stage ${p.stage}, ${humanTime(p.publishedAt)})</span></li>`
      : html`<li data-package="${p.package}">${p.package} ${p.version} to ${p.repository}${p.alreadyPublished ? ' (already published)' : ''} <span class="muted">(stage ${p.stage}, ${humanTime(p.publishedAt)})</span>
<ul>${p.files.map((f) => html`<li><code>${f.filename}</code> <span class="muted">sha256</span> <code title="${f.sha256}">${f.sha256.slice(0, 12)}</code></li>`)}</ul></li>`,
  )}</ul></div>`;
}

/** The authenticated download route of one artifact (each path segment encoded). */
export function artifactHref(buildId: string, path: string): string {
  return `/api/builds/${buildId}/artifacts/${path.split('/').map(encodeURIComponent).join('/')}`;
}

function artifactsSection(b: Build): SafeHtml {
  if (!b.artifacts?.length) return html``;
  return html`<h2>Artifacts</h2><table id="artifacts"><tr><th>path</th><th>from</th><th>size</th><th>sha256</th><th></th></tr>
${b.artifacts.map(
  (a) => html`<tr data-artifact="${a.path}"><td><code>${a.path}</code></td><td class="muted">${a.stage}/${a.step}</td><td>${formatBytes(a.size)}</td>
<td><code title="${a.sha256}">${a.sha256.slice(0, 12)}</code></td><td><a href="${artifactHref(b.id, a.path)}" download>download</a></td></tr>`,
)}</table>`;
}

function deploysSection(deploys: readonly Deploy[]): SafeHtml {
  if (deploys.length === 0) return html``;
  return html`<h2>Deploys</h2><table id="deploys"><tr><th>environment</th><th>outcome</th><th>image</th><th>kind</th><th>who</th><th>when</th></tr>
${deploys.map(
  (
    d,
  ) => html`<tr data-deploy="${d.id}"><td><a href="/environments#env-${d.environment}">${d.environment}</a></td><td>${deployState(d)}${d.reason ? html` <span class="muted">${d.reason}</span>` : ''}</td>
<td><code title="${d.ref}">${shortDigest(d.digest)}</code></td><td>${d.kind}</td><td>${d.requestedBy.name} <span class="muted">via ${d.source}</span></td><td>${humanTime(d.finishedAt ?? d.createdAt)}</td></tr>`,
)}</table>`;
}

/** The build page: summary, stage graph, who approved what, failing tests, artifacts, what it published, its deploys, and the log viewer. */
export function buildPage(b: Build, actor: Actor | null, csrf: string, deploys: readonly Deploy[] = []): SafeHtml {
  const steps = logSteps(b);
  const waiting = b.stages.filter((s) => s.status === 'waiting' && s.checkpointState && !s.checkpointState.decision);
  const open = (st: (typeof steps)[number]) => st.status === 'running' || st.status === 'failed' || st.status === 'failed_infra' || steps.length === 1;
  return html`<h1>#${b.id} ${b.repo}#${b.ref} <code>${shortSha(b.sha)}</code> ${statusBadge(b.status, 'build-status')}</h1>
<p class="muted">${b.trigger.event} by <b>${b.trigger.actor.name}</b> via ${b.trigger.source}, ${humanTime(b.createdAt)}${b.attempt > 1 ? ` · attempt ${b.attempt}` : ''}${buildDuration(b) ? ` · ${buildDuration(b)}` : ''}</p>
${b.error ? html`<pre class="box failed">${b.error.message}</pre>` : ''}
<h2>Stages</h2>
<div class="graph">${stageColumns(b.stages).map((col) => html`<div class="col">${col.map((s) => stageBox(b, s))}</div>`)}</div>
${waiting.map(
  (
    s,
  ) => html`<div class="box" data-waiting="${s.name}"><b>${s.name}</b> waits for ${s.checkpoint?.kind === 'approval' ? 'approval' : 'a manual check'}: ${s.checkpoint?.instructions ?? ''}
${s.checkpoint?.checklist.length ? html`<ul>${s.checkpoint.checklist.map((c) => html`<li>${c}</li>`)}</ul>` : ''}
<p class="muted">deadline ${humanTime(s.checkpointState!.deadline)} · needs ${s.checkpointState!.required} of group ${s.checkpoint?.approvers ?? '?'}; the requester cannot approve</p>
${decisionForms(b, s, actor, csrf, `/builds/${b.id}`)}</div>`,
)}
${testsSection(b)}
${artifactsSection(b)}
${publishedSection(b)}
${deploysSection(deploys)}
<h2>Logs</h2>
<section id="logs">
<div class="toolbar"><input type="search" id="log-search" placeholder="search the logs" aria-label="search the logs">
<select id="log-scope" aria-label="where to search"><option value="">all steps</option>${steps.map((s, i) => html`<option value="${i}">${s.key}</option>`)}</select>
<button id="log-prev" type="button" title="previous match (Shift+Enter)">↑</button><button id="log-next" type="button" title="next match (Enter)">↓</button>
<span id="log-hits" class="muted"></span>
<label><input type="checkbox" id="log-times"> timestamps</label></div>
${steps.length === 0 ? html`<p class="muted">No steps${isTerminal(b.status) ? '' : ' yet'}.</p>` : ''}
${steps.map((s, i) => {
  const raw = `/api/builds/${b.id}/logs/${encodeURIComponent(s.stage)}/${encodeURIComponent(s.step)}`;
  return html`<div class="step${open(s) ? '' : ' closed'}" data-i="${i}" data-key="${s.key}" data-status="${s.status}">
<div class="step-head">${statusBadge(s.status)}<span class="key">${s.key}</span><span class="dur muted">${runDuration(s)}</span>${s.exitCode !== undefined && s.exitCode !== 0 ? html`<span class="muted">exit ${s.exitCode}${s.reason ? `, ${s.reason}` : ''}</span>` : ''}
<span class="links"><a href="${raw}" target="_blank">raw</a><a href="${raw}?download=1">download</a></span></div>
<div class="step-body"${open(s) ? '' : ' hidden'}></div></div>`;
})}
</section>
<script type="application/json" id="log-data">${jsonScript({ build: b.id, attempt: b.attempt, status: b.status, steps })}</script>`;
}

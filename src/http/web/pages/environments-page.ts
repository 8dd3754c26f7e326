import { shortSha } from '../../../domain/build.js';
import type { Deploy } from '../../../domain/deploy.js';
import { isDeployFinished, shortDigest } from '../../../domain/deploy.js';
import { humanDuration, humanTime } from '../../../domain/human-time.js';
import type { EnvironmentLock } from '../../../deploys/deploy-store.js';
import type { EnvironmentConfig } from '../../../deploys/environment-config.js';
import { html, type SafeHtml } from '../html.js';
import { when } from './bits.js';

/** How many deploys of each environment the page lists. */
export const environmentHistoryLength = 10;

/** One environment as the page shows it, read from the deploy store. */
export interface EnvironmentBoard {
  name: string;
  config: EnvironmentConfig;
  /** The last deploy that succeeded there: what runs now, as far as Bosun did it. */
  current?: Deploy;
  lock?: EnvironmentLock;
  /** Newest first, at most `environmentHistoryLength`. */
  recent: Deploy[];
}

/** `3m 05s ago` from an ISO time; empty when unknown. */
export function age(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '';
  const d = humanDuration(Math.max(0, now - Date.parse(iso)));
  return d ? `${d} ago` : '';
}

/** A deploy's state for people, coloured like build statuses. */
export function deployState(d: Deploy): SafeHtml {
  const cls =
    d.state === 'succeeded'
      ? 'success'
      : d.state === 'failed' || d.state === 'refused'
        ? 'failed'
        : isDeployFinished(d.state)
          ? 'cancelled'
          : d.state === 'awaiting_approval'
            ? 'waiting'
            : 'running';
  return html`<span class="st ${cls}">${d.state.replace('_', ' ')}</span>`;
}

function target(c: EnvironmentConfig): string {
  return 'swarmService' in c.target ? `swarm service ${c.target.swarmService.name}` : `run in ${c.target.run.image}`;
}

function deployRow(d: Deploy, now = Date.now()): SafeHtml {
  return html`<tr data-deploy="${d.id}"><td>#${d.id}</td><td>${deployState(d)}${d.reason ? html` <span class="muted">${d.reason}</span>` : ''}</td>
<td><code title="${d.ref}">${shortDigest(d.digest)}</code></td><td><a href="/builds/${d.buildId}">#${d.buildId}</a> <code>${shortSha(d.sha)}</code></td>
<td>${d.kind}</td><td>${d.requestedBy.name} <span class="muted">via ${d.source}</span></td><td>${when(d.finishedAt ?? d.createdAt, now)}</td></tr>`;
}

/** What runs where, who deployed it, who locked what and why, and each environment's last deploys. */
export function environmentsPage(envs: EnvironmentBoard[] | null, now = Date.now()): SafeHtml {
  if (envs === null || envs.length === 0)
    return html`<h1>Environments</h1><p class="muted">This Bosun has no environments configured${envs === null ? '' : ' that you may read'}.</p>`;
  return html`<h1>Environments</h1>
<table id="environments"><tr><th>environment</th><th>repository</th><th>runs</th><th>commit</th><th>since</th><th>deployed by</th><th>lock</th></tr>
${envs.map((e) => {
  const c = e.current;
  return html`<tr data-env="${e.name}"><td><a href="#env-${e.name}"><b>${e.name}</b></a><div class="muted">${target(e.config)}${e.config.approvers ? ` · approvers ${e.config.approvers}` : ''}${e.config.autoDeploy ? ` · auto from ${e.config.autoDeploy.branch}` : ''}</div></td>
<td>${e.config.repo}</td>
<td>${c ? html`<code title="${c.ref}">${shortDigest(c.digest)}</code>` : html`<span class="muted">nothing deployed by Bosun</span>`}</td>
<td>${c ? html`<code>${shortSha(c.sha)}</code> <a href="/builds/${c.buildId}">#${c.buildId}</a>` : ''}</td>
<td>${c ? html`<span title="${humanTime(c.finishedAt)}">${age(c.finishedAt, now)}</span>` : ''}</td>
<td>${c ? c.requestedBy.name : ''}</td>
<td class="lock">${e.lock ? html`🔒 locked by <b>${e.lock.by.name}</b> <span class="muted">${when(e.lock.at, now)}</span>: ${e.lock.reason}` : html`<span class="muted">open</span>`}</td></tr>`;
})}</table>
${envs.map(
  (e) => html`<h2 id="env-${e.name}">${e.name}</h2>
${e.recent.length ? html`<table class="deploys" data-env="${e.name}"><tr><th>deploy</th><th>outcome</th><th>digest</th><th>build</th><th>kind</th><th>who</th><th>when</th></tr>${e.recent.map((d) => deployRow(d, now))}</table>` : html`<p class="muted">No deploys yet.</p>`}`,
)}`;
}

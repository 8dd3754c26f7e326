import type { Actor } from '../../../domain/build.js';
import type { LeaseView, PoolBoard } from '../../../../commands/lease-service.js';
import { humanTime } from '../../../domain/human-time.js';
import { html, type SafeHtml } from '../html.js';

function holderForms(l: LeaseView, actor: Actor | null, csrf: string): SafeHtml {
  if (!actor || actor.id !== l.holder.id) return html``;
  const hidden = html`<input type="hidden" name="_csrf" value="${csrf}">`;
  if (l.state === 'waiting') return html`<form class="inline" method="post" action="/leases/${l.id}/release">${hidden}<button>Leave the line</button></form>`;
  return html`<form class="inline" method="post" action="/leases/${l.id}/release">${hidden}<button class="reject">Release</button></form>
<form class="inline" method="post" action="/leases/${l.id}/renew">${hidden}<select name="ttl" aria-label="renew for"><option value="">its usual time</option><option>30m</option><option>1h</option><option>2h</option><option>4h</option></select><button>Renew</button></form>`;
}

/** Who holds what in every pool, since and until when, who waits in line; release/renew for the holder. */
export function leasesPage(board: PoolBoard[] | null, actor: Actor | null, csrf: string): SafeHtml {
  if (board === null) return html`<h1>Leases</h1><p class="muted">This Bosun has no resource pools configured.</p>`;
  return html`<h1>Leases</h1>${board.map(
    (pool) => html`<h2>${pool.pool}</h2>
<table class="pool" data-pool="${pool.pool}"><tr><th>item</th><th>attributes</th><th>state</th><th>holder</th><th>since</th><th>until</th><th>lease</th><th></th></tr>
${pool.items.map((item) => {
  const l = item.lease;
  return html`<tr data-item="${item.id}"><td>${item.id}</td><td>${item.attributes.join(', ')}</td><td>${item.state}</td>
<td>${l ? html`${l.holder.name}${l.buildId ? html` <a href="/builds/${l.buildId}">build #${l.buildId}${l.stage ? `/${l.stage}` : ''}</a>` : ''}` : ''}</td>
<td>${l ? humanTime(l.grantedAt) : ''}</td><td>${l ? humanTime(l.expiresAt) : ''}</td><td>${l?.id ?? ''}</td><td>${l ? holderForms(l, actor, csrf) : ''}</td></tr>`;
})}</table>
${pool.waiting.length ? html`<h3>In line</h3><ol class="line">${pool.waiting.map((w) => html`<li data-lease="${w.id}">${w.holder.name}${w.attributes.length ? ` wants ${w.attributes.join(', ')}` : ''} <span class="muted">since ${humanTime(w.requestedAt)} — ${w.id}</span> ${holderForms(w, actor, csrf)}</li>`)}</ol>` : html`<p class="muted">Nobody waits.</p>`}`,
  )}`;
}

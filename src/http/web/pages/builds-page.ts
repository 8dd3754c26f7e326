import type { Build } from '../../../domain/build.js';
import { shortSha } from '../../../domain/build.js';
import type { RunStatus } from '../../../domain/status.js';
import { html, type SafeHtml } from '../html.js';
import { buildDuration, statusBadge, when } from './bits.js';

export const runStatuses: readonly RunStatus[] = ['pending', 'queued', 'running', 'waiting', 'success', 'failed', 'failed_infra', 'cancelled', 'skipped'];

/** The builds list's filters, from the query string (each optional). */
export interface BuildFilters {
  repo?: string;
  branch?: string;
  status?: RunStatus;
  person?: string;
  /** Where in the newest-first list this page starts scanning. */
  from: number;
  /** Only these repositories (what the visitor may read); absent = all. */
  repos?: ReadonlySet<string>;
}

const pageSize = 25;
/** A page scans at most this many builds for matches, so a rare filter cannot make one request read everything. */
const scanCap = 2000;

/** What the builds list reads. */
export interface BuildLister {
  list(opts: { repo?: string; limit?: number; offset?: number }): Promise<Build[]>;
}

export function buildMatches(b: Build, f: BuildFilters): boolean {
  if (f.repos && !f.repos.has(b.repo)) return false;
  if (f.branch && b.ref !== f.branch && b.ref !== `refs/heads/${f.branch}`) return false;
  if (f.status && b.status !== f.status) return false;
  if (f.person) {
    const p = f.person.toLowerCase();
    const a = b.trigger.actor;
    if (!a.name.toLowerCase().includes(p) && a.id.toLowerCase() !== p) return false;
  }
  return true;
}

/**
 * One page of builds, newest first, filtered; `next` is where the following page starts
 * (null at the end of the list). Repository filtering uses the per-repository index; the other
 * filters scan at most `scanCap` builds per page.
 */
export async function findBuilds(store: BuildLister, f: BuildFilters): Promise<{ builds: Build[]; next: number | null; scanned: number }> {
  const out: Build[] = [];
  let offset = f.from;
  const chunk = 200;
  while (offset - f.from < scanCap) {
    const page = await store.list({ ...(f.repo ? { repo: f.repo } : {}), limit: chunk, offset });
    for (let i = 0; i < page.length; i++) {
      if (!buildMatches(page[i]!, f)) continue;
      if (out.length === pageSize) return { builds: out, next: offset + i, scanned: offset + i - f.from };
      out.push(page[i]!);
    }
    offset += page.length;
    if (page.length < chunk) return { builds: out, next: null, scanned: offset - f.from };
  }
  return { builds: out, next: offset, scanned: offset - f.from };
}

export function buildsPage(result: { builds: Build[]; next: number | null }, f: BuildFilters, repos: string[]): SafeHtml {
  const q = (over: Partial<Record<keyof BuildFilters, string | number>>) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries({ repo: f.repo, branch: f.branch, status: f.status, person: f.person, ...over }))
      if (v !== undefined && v !== '' && v !== 0) params.set(k, String(v));
    const s = params.toString();
    return s ? `/?${s}` : '/';
  };
  const rows = result.builds.map(
    (
      b,
    ) => html`<tr data-build="${b.id}"><td><a href="/builds/${b.id}">#${b.id}</a></td><td>${b.repo}</td><td>${b.ref}</td><td><code>${shortSha(b.sha)}</code></td>
<td>${statusBadge(b.status)}</td><td>${b.trigger.actor.name} <span class="muted">(${b.trigger.source})</span></td><td>${when(b.createdAt)}</td><td>${buildDuration(b)}</td></tr>`,
  );
  return html`<h1>Builds</h1>
<form class="filters" method="get" action="/">
<label>repository<select name="repo"><option value="">any</option>${repos.map((r) => html`<option${r === f.repo ? ' selected' : ''}>${r}</option>`)}</select></label>
<label>branch<input name="branch" value="${f.branch ?? ''}" placeholder="any"></label>
<label>status<select name="status"><option value="">any</option>${runStatuses.map((s) => html`<option${s === f.status ? ' selected' : ''}>${s}</option>`)}</select></label>
<label>person<input name="person" value="${f.person ?? ''}" placeholder="anyone"></label>
<button>Filter</button>${f.repo || f.branch || f.status || f.person ? html` <a href="/">clear</a>` : ''}
</form>
<table id="builds"><tr><th>#</th><th>repository</th><th>ref</th><th>commit</th><th>status</th><th>by</th><th>started</th><th>duration</th></tr>
${rows.length ? rows : html`<tr><td colspan="8" class="muted">No builds${f.repo || f.branch || f.status || f.person ? ' match these filters' : ' yet'}.</td></tr>`}</table>
<div class="pager">${f.from > 0 ? html`<a href="${q({ from: 0 })}">⇤ newest</a>` : ''}${result.next !== null ? html`<a href="${q({ from: result.next })}" rel="next">older →</a>` : ''}</div>`;
}

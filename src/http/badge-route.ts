import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Build } from '../domain/build.js';
import type { RunStatus } from '../domain/status.js';

/** What a badge says for the latest build's status, and its colour. */
const looks: Record<RunStatus | 'none', { text: string; colour: string }> = {
  success: { text: 'passing', colour: '#4c1' },
  failed: { text: 'failing', colour: '#e05d44' },
  failed_infra: { text: 'error', colour: '#e05d44' },
  cancelled: { text: 'cancelled', colour: '#9f9f9f' },
  skipped: { text: 'skipped', colour: '#9f9f9f' },
  pending: { text: 'queued', colour: '#dfb317' },
  queued: { text: 'queued', colour: '#dfb317' },
  running: { text: 'running', colour: '#dfb317' },
  waiting: { text: 'waiting', colour: '#dfb317' },
  none: { text: 'no builds', colour: '#9f9f9f' },
};

function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] ?? c);
}

/** A flat two-part badge (label | message), sized by a per-character estimate of Verdana 11px. */
function renderBadge(label: string, message: string, colour: string): string {
  const width = (s: string) => Math.round([...s].length * 6.5 + 10);
  const lw = width(label);
  const mw = width(message);
  const l = escapeXml(label);
  const m = escapeXml(message);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${lw + mw}" height="20" role="img" aria-label="${l}: ${m}">`,
    `<title>${l}: ${m}</title>`,
    `<rect width="${lw}" height="20" fill="#555"/><rect x="${lw}" width="${mw}" height="20" fill="${escapeXml(colour)}"/>`,
    `<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">`,
    `<text x="${lw / 2}" y="14">${l}</text><text x="${lw + mw / 2}" y="14">${m}</text>`,
    '</g></svg>',
  ].join('');
}

/**
 * `GET /badge/<repo>/<branch>.svg`: the status of the latest build of that branch, as an SVG
 * badge. `<repo>` is a configured repository key (`demo`, or `owner/name`); the branch may hold
 * slashes (`/badge/acme/api/feature/x.svg`): the longest configured repository that prefixes
 * the path wins. Unknown repositories are 404 (an image saying so), and so are repositories the
 * caller may not read (`visible`: public ones for everybody, docs/auth.md), so a badge tells a
 * stranger nothing about a private one. `cache-control: no-cache` so README viewers revalidate,
 * with an ETag to make that cheap.
 */
export function registerBadgeRoute(
  app: FastifyInstance,
  deps: { repos(): string[]; list(repo: string): Promise<Build[]>; visible?(req: FastifyRequest, repo: string): boolean },
): void {
  app.get('/badge/*', async (req, reply) => {
    const raw = (req.params as { '*': string })['*'];
    let path: string;
    try {
      path = decodeURIComponent(raw);
    } catch {
      path = '';
    }
    const repo = path.endsWith('.svg')
      ? deps
          .repos()
          .filter((r) => path.startsWith(`${r}/`))
          .sort((a, b) => b.length - a.length)[0]
      : undefined;
    const branch = repo ? path.slice(repo.length + 1, -'.svg'.length) : '';
    reply.type('image/svg+xml; charset=utf-8').header('cache-control', 'no-cache, max-age=0').header('x-content-type-options', 'nosniff');
    if (!repo || branch === '' || (deps.visible && !deps.visible(req, repo)))
      return reply.code(404).send(renderBadge('build', 'unknown repository', '#9f9f9f'));
    const latest = (await deps.list(repo)).find((b) => b.ref === branch || b.ref === `refs/heads/${branch}`);
    const look = looks[latest?.status ?? 'none'];
    const svg = renderBadge('build', look.text, look.colour);
    const etag = `"${latest ? `${latest.id}-${latest.version}` : 'none'}"`;
    if (req.headers['if-none-match'] === etag) return reply.code(304).header('etag', etag).send();
    return reply.header('etag', etag).send(svg);
  });
}

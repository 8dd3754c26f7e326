/**
 * The one link to a build's page, `<publicUrl>/builds/<id>`, used by every place that shows
 * one (chat messages, GitHub commit statuses, the API's reply to a new build, the CLI, a
 * step's BOSUN_BUILD_URL). Undefined when the server has no public URL: no link is better
 * than a wrong one. A trailing slash on the public URL is ignored.
 */
export function buildUrl(publicUrl: string | undefined, id: string): string | undefined {
  return publicUrl ? `${publicUrl.replace(/\/+$/, '')}/builds/${encodeURIComponent(id)}` : undefined;
}

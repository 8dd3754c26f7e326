/** Tiny HTTP helpers for auth tests: manual redirects, cookies carried by hand. */
export interface Res {
  status: number;
  location: string | null;
  cookies: Record<string, string>;
  setCookie: string[];
  text: string;
  json: any;
}

export async function http(
  method: string,
  url: string,
  opts: { cookie?: string; headers?: Record<string, string>; body?: unknown; form?: Record<string, string | string[]> } = {},
): Promise<Res> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.cookie) headers.cookie = opts.cookie;
  let body: string | undefined;
  if (opts.form) {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.form)) for (const x of Array.isArray(v) ? v : [v]) p.append(k, x);
    body = p.toString();
    headers['content-type'] = 'application/x-www-form-urlencoded';
  } else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(url, { method, headers, redirect: 'manual', ...(body !== undefined ? { body } : {}), signal: AbortSignal.timeout(20_000) });
  const setCookie = res.headers.getSetCookie();
  const cookies: Record<string, string> = {};
  for (const c of setCookie) {
    const [pair] = c.split(';');
    const eq = pair?.indexOf('=') ?? -1;
    if (pair && eq > 0) cookies[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, location: res.headers.get('location'), cookies, setCookie, text, json };
}

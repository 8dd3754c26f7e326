import type { NetworkRequest } from '../../domain/plan.js';
import { describePolicy, linkLocal, parseTarget, privateRanges, proxyDestinations, type Destination, type NetworkConfig } from './egress-policy.js';

/** A repository's narrowing (bosun.yml `network:`); the server's policy is the ceiling (R8). */
export type { NetworkRequest };

/** Something in the request the effective policy does not follow, and why. */
export interface NarrowingIssue {
  /** Where in bosun.yml (`['network', 'allow', 0]`). */
  path: (string | number)[];
  message: string;
  /**
   * `widening`: the request asks for more than the server allows (a spec error when the build
   * starts; ignored at run time, the narrowing wins). `note`: the request's own consequence
   * (the server's proxy is dropped under the repository's allowlist), shown in the policy line.
   */
  kind: 'widening' | 'note';
}

export interface Narrowed {
  /** The policy the build's steps run under: never wider than `server`. */
  policy: NetworkConfig;
  issues: NarrowingIssue[];
}

const rank = { none: 0, allowlist: 1, internet: 2 } as const;

/**
 * The server's policy narrowed by the repository's request (pure). Rules:
 * - `egress` may only go down internet → allowlist → none; a wider one is ignored (the
 *   server's stays) with a `widening` issue.
 * - `deny` entries are added to the server's (which always apply).
 * - `egress: allowlist` with `allow`: the build reaches only those entries (and DNS). Each must
 *   be inside what the server lets steps reach: under a server `allowlist`, inside one of its
 *   `allow` entries (port included); under `internet`, outside link-local, and inside a server
 *   `allow` entry where it touches a private range; never wholly inside a server `deny` entry.
 *   An entry that is not is dropped, with a `widening` issue.
 * - The server's proxy stays under a repository allowlist only when its `allow` names the
 *   proxy's address and port; otherwise the proxy (and its variables) is dropped, with a note.
 */
export function narrowPolicy(server: NetworkConfig, request: NetworkRequest | undefined): Narrowed {
  if (!request) return { policy: server, issues: [] };
  const issues: NarrowingIssue[] = [];
  let egress = request.egress ?? server.egress;
  if (rank[egress] > rank[server.egress]) {
    issues.push({
      path: ['network', 'egress'],
      kind: 'widening',
      message: `\`egress: ${egress}\` would widen the server's policy (server config network.egress is ${server.egress}); a repository may only narrow it`,
    });
    egress = server.egress;
  }
  const deny = [...server.deny, ...(request.deny ?? []).filter((d) => !server.deny.includes(d))];
  const policy: NetworkConfig = { ...server, egress, deny };
  if (egress === 'none') return { policy: { ...policy, allow: [] }, issues };
  if (egress === 'allowlist' && request.egress === 'allowlist') {
    const allow: string[] = [];
    (request.allow ?? []).forEach((entry, i) => {
      const problem = outsideServer(entry, server);
      if (problem) issues.push({ path: ['network', 'allow', i], kind: 'widening', message: problem });
      else if (!allow.includes(entry)) allow.push(entry);
    });
    policy.allow = allow;
    if (server.proxy && (server.proxy.http || server.proxy.https)) {
      const named = allow.map(parseTarget);
      const proxies = [server.proxy.http, server.proxy.https].filter((u): u is string => Boolean(u));
      const reachable = proxyDestinations(server.proxy);
      // A proxy named by host name cannot be matched against addresses: it is dropped too.
      const byAddress = proxies.every((u) => /^\d+\.\d+\.\d+\.\d+$/.test(new URL(u).hostname));
      const kept = byAddress && reachable.every((p) => named.some((a) => covers(a, p)));
      if (!kept) {
        delete policy.proxy;
        issues.push({
          path: ['network', 'allow'],
          kind: 'note',
          message: `the server's proxy (${[...new Set(proxies)].join(', ')}) is not used: this allowlist does not name its address and port`,
        });
      }
    }
  }
  return { policy, issues };
}

/**
 * The policy line of a step's log under a repository's narrowing: the effective policy, then
 * that bosun.yml narrowed it, and what of the request was ignored and why.
 */
export function describeNarrowed(server: NetworkConfig, request: NetworkRequest | undefined): string {
  const { policy, issues } = narrowPolicy(server, request);
  const base = describePolicy(policy);
  if (!request) return base;
  const ignored = issues.filter((i) => i.kind === 'widening').map((i) => `${formatPath(i.path)}: ${i.message}`);
  const notes = issues.filter((i) => i.kind === 'note').map((i) => i.message);
  const parts = [`narrowed by bosun.yml from the server's egress=${server.egress}`, ...notes];
  if (ignored.length > 0) parts.push(`ignored, the narrower policy wins: ${ignored.join('; ')}`);
  return `${base} [${parts.join('; ')}]`;
}

function formatPath(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** Why the allow entry reaches beyond what the server lets steps reach, or undefined when it does not. */
function outsideServer(entry: string, server: NetworkConfig): string | undefined {
  const d = parseTarget(entry);
  const denied = server.deny.find((x) => covers(parseTarget(x), d));
  if (denied) return `${entry} is refused by server config (network.deny ${denied}), which a repository cannot lift`;
  // The server's proxies (named by address) are let through like its `allow`.
  const inServerAllow = [...server.allow.map(parseTarget), ...proxyDestinations(server.proxy)].some((a) => covers(a, d));
  if (server.egress === 'allowlist') {
    if (inServerAllow) return undefined;
    return `${entry} is not inside the server's allowlist (server config network.allow: ${server.allow.join(' ') || 'nothing'}); a repository may only narrow it`;
  }
  if (overlaps(d.cidr, linkLocal)) return `${entry} is link-local (${linkLocal}, the metadata address included), which steps never reach`;
  const range = privateRanges.find((r) => overlaps(d.cidr, r));
  if (range && !inServerAllow)
    return `${entry} is in the private range ${range}, which server config does not open (network.allow); a repository may only narrow the policy`;
  return undefined;
}

/** Whether `outer` covers every address and port of `inner`. */
function covers(outer: Destination, inner: Destination): boolean {
  return within(inner.cidr, outer.cidr) && (outer.port === undefined || outer.port === inner.port);
}

function range(cidr: string): { start: number; bits: number } {
  const [ip, bits] = cidr.split('/');
  const n = (ip ?? '').split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const b = bits === undefined ? 32 : Number(bits);
  const size = 2 ** (32 - b);
  return { start: n - (n % size), bits: b };
}

/** `a` lies inside `b`. */
function within(a: string, b: string): boolean {
  const ra = range(a);
  const rb = range(b);
  if (ra.bits < rb.bits) return false;
  const size = 2 ** (32 - rb.bits);
  return ra.start - (ra.start % size) === rb.start;
}

function overlaps(a: string, b: string): boolean {
  return within(a, b) || within(b, a);
}

import { z } from 'zod';

/**
 * Where a step's traffic may go (server config `network`; DESIGN "What a step can do").
 * Never reachable, whatever the policy: this host's own addresses (Bosun, Redis, the Docker
 * and Swarm APIs, on any port), link-local addresses including the metadata address
 * 169.254.169.254, and other builds' containers. Private ranges (RFC 1918, CGNAT) only when
 * `allow` names them. Build networks are IPv4-only, so IPv6 (and ULA) is never routed.
 */
const ipv4 = String.raw`(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}`;
const targetPattern = new RegExp(String.raw`^(?<ip>${ipv4})(?:/(?<bits>3[0-2]|[12]?\d))?(?::(?<port>\d{1,5}))?$`);

const targetMessage =
  'expected an IPv4 address or CIDR, optionally with :port (10.1.2.3, 10.0.0.0/8, 10.1.2.3:5432); ' +
  'host names are not supported (rules match addresses; reach names through network.proxy)';

/** An allow/deny entry: `10.0.0.0/8`, `10.1.2.3`, `10.1.2.3:5432`, `10.0.0.0/8:443`. */
export const NetworkTarget = z.string().refine((value) => {
  const match = targetPattern.exec(value);
  if (!match) return false;
  const port = match.groups?.port;
  return port === undefined || (Number(port) >= 1 && Number(port) <= 65535);
}, targetMessage);
export type NetworkTarget = z.infer<typeof NetworkTarget>;

const ProxyUrl = z.string().regex(/^https?:\/\/[^\s/]+(\/.*)?$/, 'expected http://host:port or https://host:port');

export const ProxyConfig = z.strictObject({
  /** Becomes HTTP_PROXY / http_proxy in every step. */
  http: ProxyUrl.optional(),
  /** Becomes HTTPS_PROXY / https_proxy in every step. */
  https: ProxyUrl.optional(),
  /** Becomes NO_PROXY / no_proxy (comma-joined). */
  noProxy: z.array(z.string().min(1)).default([]),
});
export type ProxyConfig = z.infer<typeof ProxyConfig>;

export const NetworkConfig = z.strictObject({
  /** `internet` (default): anywhere but the blocked ranges; `allowlist`: only `allow`; `none`: no route out. */
  egress: z.enum(['internet', 'none', 'allowlist']).default('internet'),
  /** Destinations let through: holes in the private ranges (`internet`), or everything reachable (`allowlist`). */
  allow: z.array(NetworkTarget).default([]),
  /** Destinations always refused (checked before `allow`). */
  deny: z.array(NetworkTarget).default([]),
  /**
   * Name servers the steps' DNS forwards to (IPv4 addresses; port 53 to them is let through).
   * Empty (default): the engine host's own resolvers from /etc/resolv.conf, as Docker does.
   */
  dns: z.array(z.string().regex(new RegExp(`^${ipv4}$`), 'expected an IPv4 address')).default([]),
  proxy: ProxyConfig.optional(),
});
export type NetworkConfig = z.infer<typeof NetworkConfig>;

/**
 * Resolver options for the steps (and sandboxes) of a build under `policy`. With `egress: none`
 * the build network is internal: the engine's DNS answers the names on it (services, at once)
 * but lets a name it does not know (a service that has gone, any outside name) time out rather
 * than refuse it: 20 s per lookup with the resolver's defaults (5 s, 2 tries, A and AAAA),
 * measured on Docker 20.10. `timeout:1 attempts:2` ends such a lookup in ~4 s.
 */
export function stepDnsOptions(policy: Pick<NetworkConfig, 'egress'>): string[] {
  return policy.egress === 'none' ? ['timeout:1', 'attempts:2'] : [];
}

/** A parsed allow/deny entry. */
export interface Destination {
  cidr: string;
  port?: number;
}

export function parseTarget(value: string): Destination {
  const match = targetPattern.exec(value);
  if (!match) throw new Error(`${value}: ${targetMessage}`);
  const { ip, bits, port } = match.groups ?? {};
  const cidr = `${ip}${bits ? `/${bits}` : ''}`;
  return port ? { cidr, port: Number(port) } : { cidr };
}

/** Ranges no step reaches unless `allow` names them (RFC 1918, CGNAT). */
export const privateRanges = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10'] as const;
/** Ranges no step ever reaches (link-local, with the metadata address 169.254.169.254). */
export const linkLocal = '169.254.0.0/16';

/** Whether the policy needs host rules (a routed network); `none` keeps the internal network. */
export function needsRules(policy: NetworkConfig): boolean {
  return policy.egress !== 'none';
}

/** The proxy variables every step gets (upper and lower case: tools read either). */
export function proxyEnv(proxy: ProxyConfig | undefined): Record<string, string> {
  if (!proxy) return {};
  const env: Record<string, string> = {};
  if (proxy.http) env.HTTP_PROXY = env.http_proxy = proxy.http;
  if (proxy.https) env.HTTPS_PROXY = env.https_proxy = proxy.https;
  if (proxy.noProxy.length > 0) env.NO_PROXY = env.no_proxy = proxy.noProxy.join(',');
  return env;
}

/** The proxies' own `address:port`, when named by address (they are let through like `allow`). */
export function proxyDestinations(proxy: ProxyConfig | undefined): Destination[] {
  const out: Destination[] = [];
  for (const url of [proxy?.http, proxy?.https]) {
    if (!url) continue;
    const parsed = new URL(url);
    if (!new RegExp(`^${ipv4}$`).test(parsed.hostname)) continue;
    const port = Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 80));
    if (!out.some((d) => d.cidr === parsed.hostname && d.port === port)) out.push({ cidr: parsed.hostname, port });
  }
  return out;
}

/**
 * The policy in one line, for the top of every step log (so a refused connection is
 * explainable): `egress=internet (blocked: this host, link-local incl. 169.254.169.254, …)`.
 */
export function describePolicy(policy: NetworkConfig): string {
  const proxy = [policy.proxy?.http && `http proxy ${policy.proxy.http}`, policy.proxy?.https && `https proxy ${policy.proxy.https}`]
    .filter(Boolean)
    .join(', ');
  const tail = [policy.deny.length > 0 ? `denied: ${policy.deny.join(' ')}` : '', proxy].filter(Boolean).join('; ');
  const suffix = tail ? `; ${tail}` : '';
  if (policy.egress === 'none') return `egress=none (no route out: the build network is internal)${proxy ? `; ${proxy}` : ''}`;
  const always = 'this host, link-local incl. 169.254.169.254 and other builds are blocked';
  if (policy.egress === 'allowlist') {
    const allowed = policy.allow.length > 0 ? policy.allow.join(' ') : 'nothing';
    return `egress=allowlist (allowed: ${allowed}, and DNS; ${always})${suffix}`;
  }
  const holes = policy.allow.length > 0 ? ` except ${policy.allow.join(' ')}` : '';
  return `egress=internet (${always}; private ranges ${privateRanges.join(' ')} blocked${holes})${suffix}`;
}

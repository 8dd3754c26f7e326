import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { InfraError } from '../../errors.js';
import { processHelper } from '../../process/process-helper.js';
import { RunError } from '../../process/process-runner.js';
import { linkLocal, parseTarget, privateRanges, proxyDestinations, type Destination, type NetworkConfig } from './egress-policy.js';

/**
 * The host firewall as Bosun uses it: read the filter table, apply a batch atomically.
 * Contract: `restore` applies all of a batch or none of it (`iptables-restore --noflush`).
 */
export interface Firewall {
  save(): Promise<string>;
  restore(batch: string): Promise<void>;
}

/**
 * The engine host's iptables (Bosun runs as root beside dockerd), run from the process helper:
 * a build's network costs four iptables commands (save and restore, at install and removal),
 * and forking them from this process blocked its event loop each time (the stage workers' top
 * synchronous cost in the bench's burst).
 */
const hostIptables: Firewall = {
  save: () => run('iptables-save', ['-t', 'filter']),
  restore: async (batch) => {
    await run('iptables-restore', ['-w', '5', '--noflush'], batch);
  },
};

/** The names one build's rules hang on: its bridge, its two chains, the tag on its jumps. */
export interface EgressNames {
  /** The Linux bridge (`com.docker.network.bridge.name`), at most 15 characters. */
  bridge: string;
  /** Forwarded traffic from the bridge (jumped to from DOCKER-USER). */
  forward: string;
  /** Traffic from the bridge to this host's own addresses (jumped to from INPUT). */
  input: string;
  /** The iptables comment on both jumps: `bosun:<instance>:<build>`. */
  tag: string;
}

export function egressNames(instanceId: string, buildId: string): EgressNames {
  const hash = createHash('sha256').update(`${instanceId}\0${buildId}`).digest('hex').slice(0, 12);
  return { bridge: `bsn${hash}`, forward: `BOSUN-F-${hash}`, input: `BOSUN-I-${hash}`, tag: `bosun:${instanceId}:${encodeURIComponent(buildId)}` };
}

const reject = '-j REJECT --reject-with icmp-admin-prohibited';

function match(d: Destination): string[] {
  if (d.port === undefined) return [`-d ${d.cidr}`];
  return ['tcp', 'udp'].map((proto) => `-d ${d.cidr} -p ${proto} -m ${proto} --dport ${d.port}`);
}

/**
 * The batch that installs one build's rules (pure). Forwarded traffic from the bridge, in order:
 * replies and same-bridge traffic pass; DNS to `dns`; link-local is refused; `deny` is refused;
 * `allow` and the proxies pass; then `internet` refuses the private ranges and passes the rest,
 * `allowlist` refuses the rest. "Pass" is RETURN, never ACCEPT: Docker's own chains still run
 * (its isolation between bridges keeps other builds out even where `allow` covers them).
 * Traffic to this host (INPUT): replies and DNS to `dns` pass, everything else is refused.
 * `existingJumps` says which jumps are there already (the chains are flushed and refilled).
 */
export function egressBatch(policy: NetworkConfig, names: EgressNames, dns: string[], existingJumps: { forward: boolean; input: boolean }): string {
  const { bridge, forward, input, tag } = names;
  const lines = ['*filter', `:${forward} - [0:0]`, `:${input} - [0:0]`];
  const f = (rule: string): number => lines.push(`-A ${forward} ${rule}`);
  const i = (rule: string): number => lines.push(`-A ${input} ${rule}`);
  const nameServers = dns.map((ip) => ({ cidr: ip, port: 53 }));
  const passed = [...policy.allow.map(parseTarget), ...proxyDestinations(policy.proxy)];

  f('-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN');
  f(`-o ${bridge} -j RETURN`);
  for (const d of nameServers) for (const m of match(d)) f(`${m} -j RETURN`);
  f(`-d ${linkLocal} ${reject}`);
  for (const d of policy.deny.map(parseTarget)) for (const m of match(d)) f(`${m} ${reject}`);
  for (const d of passed) for (const m of match(d)) f(`${m} -j RETURN`);
  if (policy.egress === 'allowlist') {
    f(reject);
  } else {
    for (const range of privateRanges) f(`-d ${range} ${reject}`);
    f('-j RETURN');
  }

  i('-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT');
  for (const d of [...nameServers, ...proxyDestinations(policy.proxy)]) for (const m of match(d)) i(`${m} -j ACCEPT`);
  i(reject);

  const comment = `-m comment --comment "${tag}"`;
  if (!existingJumps.forward) lines.push(`-I DOCKER-USER 1 -i ${bridge} ${comment} -j ${forward}`);
  if (!existingJumps.input) lines.push(`-I INPUT 1 -i ${bridge} ${comment} -j ${input}`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/** The batch that removes every jump to a build's chains and the chains (pure; from `iptables-save`). */
export function removalBatch(saved: string, names: EgressNames): string | undefined {
  const lines = ['*filter'];
  for (const line of saved.split('\n')) {
    const jump = /^-A (DOCKER-USER|INPUT) (.*) -j (BOSUN-[FI]-[0-9a-f]{12})$/.exec(line.trim());
    if (jump && (jump[3] === names.forward || jump[3] === names.input)) lines.push(`-D ${jump[1]} ${jump[2]} -j ${jump[3]}`);
  }
  for (const chain of [names.forward, names.input]) {
    if (saved.includes(`:${chain} `)) lines.push(`-F ${chain}`, `-X ${chain}`);
  }
  if (lines.length === 1) return undefined;
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/** Build IDs of this instance that have rules (from the tags on their jumps). */
export function taggedBuilds(saved: string, instanceId: string): Set<string> {
  const ids = new Set<string>();
  const pattern = /--comment "?bosun:([a-z0-9-]+):([^"\s]+)"?/;
  for (const line of saved.split('\n')) {
    const m = pattern.exec(line);
    if (m && m[1] === instanceId) ids.add(decodeURIComponent(m[2]!));
  }
  return ids;
}

/**
 * One build's egress rules on this host, made with its network and removed with it (R22).
 * `install` is idempotent (the chains are refilled, a jump is added only if missing);
 * `remove` is idempotent and a no-op when nothing is there; `sweep` removes the rules of this
 * instance's builds that `isLive` rejects (what a crash left behind). A host where the rules
 * cannot be installed (not root, no DOCKER-USER chain: the engine is elsewhere) fails `install`
 * with an `InfraError` saying so; steps never run on a routed network without their rules.
 */
export class EgressRules {
  readonly #policy: NetworkConfig;
  readonly #instanceId: string;
  readonly #firewall: Firewall;
  readonly #resolvConf: string;
  readonly #extraDeny: (() => Promise<string[]>) | undefined;

  /** `extraDeny`: more addresses refused like `deny`, looked up at each install (multi-node: every swarm node's address). */
  constructor(policy: NetworkConfig, instanceId: string, opts: { firewall?: Firewall; resolvConf?: string; extraDeny?: () => Promise<string[]> } = {}) {
    this.#policy = policy;
    this.#instanceId = instanceId;
    this.#firewall = opts.firewall ?? hostIptables;
    this.#resolvConf = opts.resolvConf ?? '/etc/resolv.conf';
    this.#extraDeny = opts.extraDeny;
  }

  names(buildId: string): EgressNames {
    return egressNames(this.#instanceId, buildId);
  }

  /** Why rules cannot be installed here (not root, no DOCKER-USER chain), or undefined. For a warning at startup. */
  async problem(): Promise<string | undefined> {
    try {
      assertDockerUser(await this.#firewall.save());
      return undefined;
    } catch (err) {
      return `network.egress ${this.#policy.egress} needs iptables rules beside the engine, and this host cannot take them: ${(err as Error).message}; every build will fail until Bosun runs as root on the engine's host, or network.egress is none`;
    }
  }

  /** Installs the build's rules for `policy` (default: the policy these rules were made with; a build's bosun.yml may narrow it). */
  async install(buildId: string, policy: NetworkConfig = this.#policy): Promise<EgressNames> {
    const names = this.names(buildId);
    try {
      const saved = await this.#firewall.save();
      assertDockerUser(saved);
      const existing = { forward: hasJump(saved, 'DOCKER-USER', names.forward), input: hasJump(saved, 'INPUT', names.input) };
      const extra = (await this.#extraDeny?.()) ?? [];
      const applied = extra.length > 0 ? { ...policy, deny: [...policy.deny, ...extra] } : policy;
      await this.#firewall.restore(egressBatch(applied, names, await this.#nameServers(), existing));
      return names;
    } catch (err) {
      throw new InfraError(
        'executor',
        `network.egress ${policy.egress} needs iptables rules beside the engine, and they could not be installed for build ${buildId}: ${(err as Error).message}. Run Bosun as root on the engine's host, or set network.egress: none`,
        { cause: err },
      );
    }
  }

  async remove(buildId: string): Promise<void> {
    const names = this.names(buildId);
    const batch = removalBatch(await this.#firewall.save(), names);
    if (batch) await this.#firewall.restore(batch);
  }

  /** Removes the rules of this instance's builds that `isLive` rejects; returns their IDs. */
  async sweep(isLive: (buildId: string) => boolean): Promise<string[]> {
    const removed: string[] = [];
    for (const buildId of taggedBuilds(await this.#firewall.save(), this.#instanceId)) {
      if (isLive(buildId)) continue;
      await this.remove(buildId);
      removed.push(buildId);
    }
    return removed;
  }

  /** The configured `dns`, else the host's IPv4 resolvers (what Docker's embedded DNS forwards to). */
  async #nameServers(): Promise<string[]> {
    if (this.#policy.dns.length > 0) return this.#policy.dns;
    const text = await readFile(this.#resolvConf, 'utf8').catch(() => '');
    return [...text.matchAll(/^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/gm)].map((m) => m[1]!).filter((ip) => !ip.startsWith('127.'));
  }
}

function assertDockerUser(saved: string): void {
  if (!/^:DOCKER-USER /m.test(saved))
    throw new Error('there is no DOCKER-USER chain on this host (is the engine on another machine, or started with --iptables=false?)');
}

function hasJump(saved: string, from: string, chain: string): boolean {
  return saved.split('\n').some((line) => line.startsWith(`-A ${from} `) && line.trimEnd().endsWith(`-j ${chain}`));
}

/** iptables' own timeouts bound it (`-w 5`); this bound is for a command that hangs anyway. */
const iptablesTimeoutMs = 120_000;

async function run(command: string, args: string[], input?: string): Promise<string> {
  try {
    const { stdout } = await processHelper.run(command, args, {
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
      timeoutMs: iptablesTimeoutMs,
      maxBuffer: 256 * 1024 * 1024,
      input,
    });
    return stdout;
  } catch (err) {
    // The same message as before for a command that ran and failed; a command that could not
    // start (ENOENT) or was killed keeps the runner's message.
    if (err instanceof RunError && typeof err.code === 'number')
      throw new Error(`${command} exited ${err.code}: ${err.stderr.trim() || 'no message'}`, { cause: err });
    throw err;
  }
}

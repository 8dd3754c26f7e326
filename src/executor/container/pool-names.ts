import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { labelKeys } from '../executor.js';
import { buildLabels } from './resource-names.js';

/** Label keys of the warm pool (docs/pool.md). */
export const poolLabelKeys = {
  /** The pool entry's id, on its sandbox container and on a build's claim marker. */
  entry: 'bosun.pool',
  /** The name its per-build resources (network, volume, egress rules) are made under (`pool-<id>`). */
  key: 'bosun.pool.key',
  /** The process that made a pool sandbox (`host:pid:start`): it alone uses it. */
  owner: 'bosun.pool.owner',
} as const;

/** A new pool entry id (12 hex characters). */
export function newPoolEntryId(): string {
  return randomBytes(6).toString('hex');
}

/** The name an entry's network, volume and egress rules are made under, in place of a build id. */
export function poolResourceKey(entryId: string): string {
  return `pool-${entryId}`;
}

/** Whether a "build id" on a per-build resource is in fact a pool entry's key (builds never start so). */
export function isPoolKey(id: string): boolean {
  return /^pool-[0-9a-f]{12}$/.test(id);
}

/** Lowercase letters, digits and dashes only (as `resource-names`). */
function slug(value: string, max: number): string {
  const cleaned = value
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return cleaned.slice(0, max) || 'x';
}

/**
 * The build's claim marker: an empty volume, never mounted, whose labels say under which key the
 * build's network and workspace volume live: its own id (cold) or a pool entry's (claimed). The
 * engine creates a volume by name under a lock and answers a second create with the existing
 * volume's labels, so two processes deciding at once agree on the first one's key.
 */
export function claimMarkerName(instanceId: string, buildId: string): string {
  return `bosun-${slug(instanceId, 20)}-claim-${slug(buildId, 24)}`;
}

/** The labels of a build's claim marker: the build's (so `reapBuilds` finds it), and the key. */
export function claimLabels(buildId: string, instanceId: string, key: string, entryId?: string): Record<string, string> {
  return { ...buildLabels(buildId, instanceId), [poolLabelKeys.key]: key, ...(entryId ? { [poolLabelKeys.entry]: entryId } : {}) };
}

/** The name of a pool entry's sandbox container. */
export function poolSandboxName(instanceId: string, entryId: string): string {
  return `bosun-${slug(instanceId, 20)}-pool-${entryId}`;
}

/** The labels of a pool entry's sandbox container: no build (it has none until claimed), `bosun.role=pool`. */
export function poolSandboxLabels(instanceId: string, entryId: string): Record<string, string> {
  return {
    [labelKeys.managed]: 'true',
    [labelKeys.instance]: instanceId,
    'bosun.role': 'pool',
    [labelKeys.sandbox]: 'pool',
    [poolLabelKeys.entry]: entryId,
    [poolLabelKeys.key]: poolResourceKey(entryId),
    [poolLabelKeys.owner]: processOwner(),
  };
}

let owner: string | undefined;

/** This process as a pool owner: `host:pid:start time` (the start time tells a reused pid apart). */
export function processOwner(): string {
  owner ??= `${hostname()}:${process.pid}:${processStart(process.pid) ?? '0'}`;
  return owner;
}

/**
 * Whether the process named by `tag` (`processOwner`) still runs: on this host, by its pid and
 * start time; on another host, undefined (the caller decides: see `sweepPool`).
 */
export function ownerAlive(tag: string | undefined): boolean | undefined {
  if (!tag) return false;
  const [host, pid, start] = tag.split(':');
  if (host !== hostname()) return undefined;
  const found = processStart(Number(pid));
  return found !== undefined && found === start;
}

/** The host part of an owner tag. */
export function ownerHost(tag: string | undefined): string {
  return tag?.split(':')[0] ?? '';
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks), or undefined when there is no such process. */
function processStart(pid: number): string | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

import { createHash } from 'node:crypto';
import type { Build } from '../domain/build.js';

/**
 * Which caches a build may read and the one namespace it writes (no cache poisoning).
 *
 * Caches live per repository, in namespaces `<trust>/<scope>`:
 * - trust: `untrusted` for builds of untrusted changes (`trigger.untrusted`: fork or outsider
 *   pull requests, approved ones and their retries included) and for pull-request refs built by
 *   hand (`pull/N/…`, which can be a fork's code); `trusted` otherwise;
 * - scope: `pr-<N>` for a pull request's builds, else `branch-<ref>` (the branch built).
 *
 * A build writes only its own namespace. It reads its own first, then its base: a pull
 * request's base branch (`trigger.baseRef`, else the repository's default branch), or for a
 * branch that is not the default, the default branch; always in the `trusted` namespace.
 * Nothing ever reads an `untrusted` namespace except the untrusted builds that wrote it, so a
 * fork cannot change what a trusted build restores; and no pull request writes its base's.
 */
export interface CacheScope {
  /** Where this build saves. */
  write: string;
  /** Where it restores from, in order (`write` first). */
  read: string[];
  untrusted: boolean;
}

const pullRequestRef = /^pull\/\d+\//;

export function cacheScope(build: Pick<Build, 'ref' | 'trigger'>, defaultBranch: string): CacheScope {
  const untrusted = build.trigger.untrusted === true || pullRequestRef.test(build.ref);
  const own = `${untrusted ? 'untrusted' : 'trusted'}/${build.trigger.pullRequest !== undefined ? `pr-${build.trigger.pullRequest}` : branchScope(build.ref)}`;
  const base = build.trigger.pullRequest !== undefined ? (build.trigger.baseRef ?? defaultBranch) : defaultBranch;
  const read = [own];
  const baseNamespace = `trusted/${branchScope(base)}`;
  if (!read.includes(baseNamespace)) read.push(baseNamespace);
  return { write: own, read, untrusted };
}

/** `branch-<readable>-<hash>`: a directory name for any ref (slashes and all), never two refs in one. */
export function branchScope(ref: string): string {
  const readable = ref
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .replace(/^\.+/, '_')
    .slice(0, 60);
  return `branch-${readable}-${createHash('sha256').update(ref).digest('hex').slice(0, 8)}`;
}

import type { Redis } from 'ioredis';
import type { RunStatus } from '../domain/status.js';
import { isTerminal } from '../domain/status.js';

const setIfNewer = `
local cur = redis.call('GET', KEYS[1])
local nb, na, np = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if cur then
  local b, a, p = string.match(cur, '^(%d+):(%d+):(%d+)$')
  b, a, p = tonumber(b), tonumber(a), tonumber(p)
  if nb < b or (nb == b and (na < a or (na == a and np <= p))) then return 0 end
end
if ARGV[5] == '1' then
  redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2] .. ':' .. ARGV[3], 'EX', ARGV[4])
end
return 1`;

/** Where a run is in its life: later phases never give way to earlier ones. */
export function phaseOf(status: RunStatus): number {
  if (isTerminal(status)) return 4;
  return { pending: 0, queued: 1, running: 2, waiting: 3 }[status as 'pending' | 'queued' | 'running' | 'waiting'] ?? 0;
}

export interface Rank {
  build: number;
  attempt: number;
  phase: number;
}

/**
 * The last status Bosun reported per (repo, sha, context), as a rank (build number, attempt,
 * phase), so reports are monotonic (R24): a late or replayed event never turns a success back
 * into pending; a newer build or retry of the same commit may report again.
 */
export class StatusRanks {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(repo: string, sha: string, context: string): string {
    return `${this.prefix}:github:status:${repo}:${sha}:${context}`;
  }

  private async run(repo: string, sha: string, context: string, r: Rank, write: boolean): Promise<boolean> {
    const res = await this.redis.eval(
      setIfNewer,
      1,
      this.key(repo, sha, context),
      String(r.build),
      String(r.attempt),
      String(r.phase),
      String(30 * 24 * 3600),
      write ? '1' : '0',
    );
    return res === 1;
  }

  /** True when `r` is newer than what was reported. */
  isNewer(repo: string, sha: string, context: string, r: Rank): Promise<boolean> {
    return this.run(repo, sha, context, r, false);
  }

  /** Records `r` as reported, unless something newer was recorded meanwhile. */
  record(repo: string, sha: string, context: string, r: Rank): Promise<boolean> {
    return this.run(repo, sha, context, r, true);
  }
}

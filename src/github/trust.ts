import type { Redis } from 'ioredis';
import type { GithubConfig } from './github-config.js';

const trustedAssociations = new Set(['OWNER', 'MEMBER', 'COLLABORATOR']);

/** A person is trusted by their association with the repo or by the server's list (ids, never names). */
export function isTrustedUser(config: GithubConfig, userId: number, association: string): boolean {
  return trustedAssociations.has(association) || config.trustedUsers.includes(`github:${userId}`);
}

/**
 * `/ci ok-to-test` approvals, bound to one head commit of one pull request (R7): a new push
 * to the PR has another sha and needs another approval.
 */
export class OkToTestStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(repo: string, pr: number): string {
    return `${this.prefix}:github:ok-to-test:${repo}#${pr}`;
  }

  async approve(repo: string, pr: number, sha: string, by: string): Promise<void> {
    await this.redis.hset(this.key(repo, pr), sha, by);
    await this.redis.expire(this.key(repo, pr), 30 * 24 * 3600);
  }

  async isApproved(repo: string, pr: number, sha: string): Promise<boolean> {
    return (await this.redis.hexists(this.key(repo, pr), sha)) === 1;
  }
}

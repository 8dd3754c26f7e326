import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/rest';
import { UserError } from '../errors.js';
import type { Logger } from '../logger.js';

/** Where a request's credentials come from: one token per repository owner (an App installation) or one static token. */
export interface TokenSource {
  /** A token valid for requests on `owner/repo`. Concurrent callers share one fetch. */
  token(owner: string, repo: string): Promise<string>;
  /** GitHub answered 401 with `token`: forget it, so the next `token()` fetches a fresh one. */
  invalidate(owner: string, token: string): void;
}

/** A personal (or otherwise static) token: nothing to refresh. */
export function staticTokens(token: string): TokenSource {
  return { token: async () => token, invalidate: () => undefined };
}

interface Cached {
  token: string;
  expiresAtMs: number;
}

/**
 * Installation tokens of a GitHub App, fetched on demand with `@octokit/auth-app`: the App's
 * JWT (RS256, signed with its private key) finds the installation on the repository
 * (`GET /repos/{owner}/{repo}/installation`) and mints a token for it
 * (`POST /app/installations/{id}/access_tokens`). One installation per owner; its token is
 * cached until `marginSec` before the `expires_at` GitHub gave (an hour, normally) and
 * fetched again after a 401. Concurrent requests for one owner share one fetch.
 */
export class AppTokens implements TokenSource {
  private readonly app: Octokit;
  private readonly installations = new Map<string, number>();
  private readonly tokens = new Map<string, Cached>();
  private readonly inflight = new Map<string, Promise<string>>();

  constructor(
    opts: { appId: number; privateKey: string; baseUrl: string; marginSec: number },
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.marginMs = opts.marginSec * 1000;
    this.app = new Octokit({
      authStrategy: createAppAuth,
      auth: { appId: opts.appId, privateKey: opts.privateKey },
      baseUrl: opts.baseUrl.replace(/\/$/, ''),
      log: { debug: () => undefined, info: () => undefined, warn: (m: string) => log.warn({ detail: m }, 'GitHub App auth'), error: () => undefined },
    });
  }

  private readonly marginMs: number;

  async token(owner: string, repo: string): Promise<string> {
    const cached = this.tokens.get(owner);
    if (cached && cached.expiresAtMs - this.marginMs > this.now()) return cached.token;
    const running = this.inflight.get(owner);
    if (running) return running;
    const p = this.fetch(owner, repo).finally(() => this.inflight.delete(owner));
    this.inflight.set(owner, p);
    return p;
  }

  invalidate(owner: string, token: string): void {
    if (this.tokens.get(owner)?.token === token) this.tokens.delete(owner);
  }

  /** The installation on `owner/repo`, asked with the App's JWT; UserError when the App is not installed there. */
  private async installationId(owner: string, repo: string): Promise<number> {
    const known = this.installations.get(owner);
    if (known) return known;
    try {
      const res = await this.app.request('GET /repos/{owner}/{repo}/installation', { owner, repo });
      this.installations.set(owner, res.data.id);
      return res.data.id;
    } catch (err) {
      if ((err as { status?: number }).status === 404) {
        throw new UserError('not_found', `the GitHub App is not installed on ${owner}/${repo}`);
      }
      throw err;
    }
  }

  private async fetch(owner: string, repo: string): Promise<string> {
    const installationId = await this.installationId(owner, repo);
    try {
      const auth = (await this.app.auth({ type: 'installation', installationId, refresh: true })) as { token: string; expiresAt: string };
      this.tokens.set(owner, { token: auth.token, expiresAtMs: Date.parse(auth.expiresAt) });
      this.log.info({ owner, installationId, expiresAt: auth.expiresAt }, 'GitHub App installation token fetched');
      return auth.token;
    } catch (err) {
      // An installation that was removed and added again has a new id.
      if ((err as { status?: number }).status === 404) this.installations.delete(owner);
      throw err;
    }
  }

  /** Forgets the installation of `owner` (an `installation` event said it changed). */
  forgetInstallation(owner: string): void {
    this.installations.delete(owner);
    this.tokens.delete(owner);
  }
}

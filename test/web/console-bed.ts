import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { SignedCodec, newSession } from '../../src/http/auth/session-codec.js';
import { sessionCookie } from '../../src/http/auth/auth-layer.js';
import { launchBrowser } from '../support/browser.js';

/** Who may sign in to the servers these tests start (server config `auth.allow`). */
export const allowSlackTeam = { auth: { allow: ['slack:T1/*'] } };

/**
 * A signed-in session for `actorId`, as the sign-in flow would leave it (docs/auth.md): the
 * session cookie signed with the server's key (`<dataDir>/session-key`), and its CSRF token.
 */
export function signedIn(dataDir: string, actorId: string): { cookie: string; value: string; csrf: string } {
  const codec = new SignedCodec([readFileSync(join(dataDir, 'session-key'), 'utf8').trim()]);
  const session = newSession({ id: actorId, name: actorId.split('/').pop() ?? actorId }, 3600);
  return { cookie: sessionCookie, value: codec.sign('session', session), csrf: session.csrf };
}

/** One browser per test file; pages with generous timeouts (a loaded 2-core machine). */
export async function openBrowser(): Promise<{
  browser: Browser;
  page(opts?: { session?: { cookie: string; value: string }; url?: string }): Promise<Page>;
  close(): Promise<void>;
}> {
  const browser = await launchBrowser();
  return {
    browser,
    async page(opts = {}) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      if (opts.session && opts.url) await context.addCookies([{ name: opts.session.cookie, value: opts.session.value, url: opts.url }]);
      const page = await context.newPage();
      page.setDefaultTimeout(30_000);
      return page;
    },
    close: () => browser.close(),
  };
}

/** Polls `fn` until it returns a truthy value, within `timeoutMs`. */
export async function eventually<T>(
  fn: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

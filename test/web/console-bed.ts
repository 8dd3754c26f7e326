import type { FastifyRequest } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { HttpError } from '../../src/http/api-routes.js';
import type { WebSession } from '../../src/http/web/web-session.js';
import { launchBrowser } from '../support/browser.js';

/** The cookie the test session reads the signed-in actor's id from (the sign-in work replaces this in production). */
export const actorCookie = 'bosun-test-actor';

/**
 * A stand-in for the sign-in layer in these tests: the actor named by a cookie, and a CSRF
 * token derived from it that every form must echo. It plugs into the same `WebSession` hook.
 */
export const cookieSession: WebSession = {
  actor(req: FastifyRequest) {
    const id = cookieOf(req, actorCookie);
    return id ? { id, name: id.split('/').pop() ?? id } : null;
  },
  csrfToken: (req) => `csrf-${cookieOf(req, actorCookie) ?? ''}`,
  verifyCsrf(req, token) {
    const id = cookieOf(req, actorCookie);
    if (!id || token !== `csrf-${id}`) throw new HttpError(403, 'forbidden', 'missing or wrong CSRF token');
  },
};

function cookieOf(req: FastifyRequest, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

/** One browser per test file; pages with generous timeouts (a loaded 2-core machine). */
export async function openBrowser(): Promise<{ browser: Browser; page(opts?: { actor?: string; url?: string }): Promise<Page>; close(): Promise<void> }> {
  const browser = await launchBrowser();
  return {
    browser,
    async page(opts = {}) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      if (opts.actor && opts.url) await context.addCookies([{ name: actorCookie, value: encodeURIComponent(opts.actor), url: opts.url }]);
      const page = await context.newPage();
      page.setDefaultTimeout(30_000);
      return page;
    },
    close: () => browser.close(),
  };
}

/** Polls `fn` until it returns a truthy value, within `timeoutMs`. */
export async function eventually<T>(fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs: number, what: string): Promise<T> {
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

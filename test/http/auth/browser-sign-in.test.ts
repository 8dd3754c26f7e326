import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { startHarness, type Harness } from '../../support/bosun-harness.js';
import { makeRepo } from '../../support/git-repo.js';
import { freePort } from '../../support/redis-server.js';
import { startOidcProvider, type OidcTestProvider } from '../../support/oidc-test-provider.js';

const chromiumPath = '/usr/bin/chromium';
const spec = 'version: 1\nimage: any\nstages:\n  test:\n    steps:\n      - name: unit\n        run: [echo private-log-line-42]\n';

// A real browser against a real OpenID Connect provider (oidc-provider, shaped like Slack's):
// a signed-out visitor sees nothing of a private repository, a forged form post is refused,
// and signing in with "Slack" lands on the page asked for, signed in as slack:<team>/<user>.
describe(
  'sign in with Slack (OIDC) in Chromium',
  { skip: existsSync(chromiumPath) || process.env.CI ? false : `${chromiumPath} is not installed (scripts/install-deps.sh installs it)` },
  () => {
    let h: Harness;
    let idp: OidcTestProvider;
    let browser: Browser;
    let buildId: string;

    before(async () => {
      const idpPort = await freePort();
      h = await startHarness({
        auth: {
          allow: ['slack:T0TEST/*'],
          slack: { clientId: 'bosun-test', clientSecret: 'bosun-test-secret-0123456789', issuer: `http://127.0.0.1:${idpPort}` },
        },
      });
      idp = await startOidcProvider({
        port: idpPort,
        clientId: 'bosun-test',
        clientSecret: 'bosun-test-secret-0123456789',
        redirectUri: `${h.url}/auth/slack/callback`,
        teamId: 'T0TEST',
        names: { U0ADA: 'Ada Lovelace' },
      });
      const repo = await makeRepo(h.dataDir, 'secret', { 'bosun.yml': spec });
      h.server.core.config.repos.secret = { url: repo.url, defaultBranch: 'master', secrets: [] };
      buildId = (await h.api('POST', '/api/builds', { repo: 'secret', ref: 'master' })).json.build.id;
      assert.equal((await h.waitDone(buildId)).status, 'success');
      browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox', '--disable-background-networking'], timeout: 60_000 });
    });

    /** A browser context that reaches only this machine (the provider's page imports a web font: refused). */
    async function localContext(): Promise<BrowserContext> {
      const context = await browser.newContext();
      await context.route('**/*', (route) => (new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort()));
      return context;
    }

    after(async () => {
      await browser?.close();
      await idp?.stop();
      await h?.stop();
    });

    test('signed out, a private build shows nothing but the sign-in page; signing in through the OIDC provider lands on it', async () => {
      const context = await localContext();
      const page = await context.newPage();
      page.setDefaultTimeout(30_000);
      try {
        await page.goto(`${h.url}/builds/${buildId}`);
        assert.equal(new URL(page.url()).pathname, '/auth/login');
        const signedOut = await page.content();
        assert.doesNotMatch(signedOut, /private-log-line-42|secret/);
        const api = await page.evaluate(async (id) => (await fetch(`/api/builds/${id}/logs/test/unit`)).status, buildId);
        assert.equal(api, 401, 'the page cannot fetch the log either');
        await page.goto(`${h.url}/`);
        assert.equal(new URL(page.url()).pathname, '/auth/login', 'the console front page asks to sign in too');
        await page.goto(`${h.url}/builds/${buildId}`);

        await page.click('#sign-in-slack');
        await page.waitForURL((u) => u.origin === idp.issuer);
        await page.fill('input[name=login]', 'U0ADA');
        await page.fill('input[name=password]', 'any');
        await page.click('button[type=submit]');
        await page.waitForURL((u) => u.href.startsWith(`${h.url}/builds/${buildId}`));
        await page.getByText('private-log-line-42').first().waitFor();

        const me = (await page.evaluate(async () => (await fetch('/auth/me')).json())) as { actor: unknown };
        assert.deepEqual(me.actor, { id: 'slack:T0TEST/U0ADA', name: 'Ada Lovelace' });
        const cookie = (await context.cookies()).find((c) => c.name === 'bosun_session');
        assert.ok(cookie?.httpOnly, 'HttpOnly');
        assert.equal(cookie?.sameSite, 'Lax');
        assert.equal(await page.evaluate("document.cookie.includes('bosun_session')"), false, 'scripts cannot read the session');
      } finally {
        await context.close();
      }
    });

    test('signed in, a forged form post without the CSRF token is refused; the real form works; sign-out ends it', async () => {
      const context = await localContext();
      const page = await context.newPage();
      page.setDefaultTimeout(30_000);
      try {
        await page.goto(`${h.url}/auth/login?next=/auth/tokens`);
        await page.click('#sign-in-slack');
        await page.waitForURL((u) => u.origin === idp.issuer);
        await page.fill('input[name=login]', 'U0BOB');
        await page.fill('input[name=password]', 'any');
        await page.click('button[type=submit]');
        await page.waitForURL(`${h.url}/auth/tokens`);

        // A form like the real one, but without _csrf, posted with the session cookie.
        const forged = await page.evaluate(async () => {
          const res = await fetch('/auth/tokens', {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: 'name=forged&scopes=read&scopes=build',
          });
          return { status: res.status, body: await res.text() };
        });
        assert.equal(forged.status, 403);
        assert.match(forged.body, /csrf/i);
        const answered = page.waitForNavigation({ waitUntil: 'load' });
        await page.evaluate(`(() => {
        const f = document.createElement('form');
        f.method = 'post';
        f.action = '/auth/tokens';
        f.innerHTML = '<input name="name" value="forged-form"><input name="scopes" value="read">';
        document.body.append(f);
        f.submit();
      })()`);
        const response = await answered;
        assert.equal(response?.status(), 403, 'a real form submission without _csrf');

        await page.goto(`${h.url}/auth/tokens`);
        assert.doesNotMatch(await page.content(), /forged/, 'nothing was created');
        await page.fill('#new-token-form input[name=name]', 'laptop');
        await page.click('#new-token-form button');
        const token = (await page.textContent('#new-token'))?.trim() ?? '';
        assert.match(token, /^bsn_[0-9a-f]{12}_/);
        const res = await fetch(`${h.url}/api/builds/${buildId}`, { headers: { authorization: `Bearer ${token}` } });
        assert.equal(res.status, 200, 'the new read token reads');

        await page.click('#sign-out');
        await page.waitForURL((u) => u.pathname === '/auth/login');
        await page.goto(`${h.url}/builds/${buildId}`);
        assert.equal(new URL(page.url()).pathname, '/auth/login', 'signed out again');
      } finally {
        await context.close();
      }
    });
  },
);

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../../support/bosun-harness.js';
import { freePort } from '../../support/redis-server.js';
import { startOidcProvider, type OidcTestProvider } from '../../support/oidc-test-provider.js';
import { http, type Res } from './auth-http.js';

/**
 * Walks the authorization code flow like a browser would, against the real provider: Bosun's
 * redirect, the provider's login form (its development interaction), and back. Returns
 * Bosun's answer to the callback and the callback URL itself (to replay it).
 */
async function signInWithSlack(bosun: string, login: string): Promise<{ back: Res; callback: string; loginCookie: string }> {
  const start = await http('GET', `${bosun}/auth/slack?next=/auth/me`);
  assert.equal(start.status, 302, start.text);
  const loginCookie = `bosun_login=${start.cookies.bosun_login}`;
  const jar: Record<string, string> = {};
  const idp = async (method: string, url: string, form?: Record<string, string>) => {
    const r = await http(method, url, {
      cookie: Object.entries(jar)
        .map(([k, v]) => `${k}=${v}`)
        .join('; '),
      ...(form ? { form } : {}),
    });
    Object.assign(jar, r.cookies);
    return r;
  };
  const authorize = await idp('GET', start.location ?? '');
  assert.equal(authorize.status, 303, authorize.text);
  const interaction = new URL(authorize.location ?? '', start.location ?? '');
  const form = await idp('GET', interaction.href);
  assert.match(form.text, /name="login"/, 'the provider shows its login form');
  const submitted = await idp('POST', interaction.href, { prompt: 'login', login, password: 'any' });
  assert.equal(submitted.status, 303, submitted.text);
  const resumed = await idp('GET', new URL(submitted.location ?? '', interaction).href);
  assert.equal(resumed.status, 303, resumed.text);
  const callback = new URL(resumed.location ?? '', interaction).href;
  assert.ok(callback.startsWith(`${bosun}/auth/slack/callback?`), callback);
  return { back: await http('GET', callback, { cookie: loginCookie }), callback, loginCookie };
}

describe('sign in with Slack: OpenID Connect against a real provider (oidc-provider)', () => {
  let h: Harness;
  let provider: OidcTestProvider;

  before(async () => {
    const port = await freePort();
    h = await startHarness({
      auth: {
        allow: ['slack:T0TEST/U0ADA'],
        slack: { clientId: 'bosun-test', clientSecret: 'bosun-test-secret-0123456789', issuer: `http://127.0.0.1:${port}` },
      },
    });
    provider = await startOidcProvider({
      port,
      clientId: 'bosun-test',
      clientSecret: 'bosun-test-secret-0123456789',
      redirectUri: `${h.url}/auth/slack/callback`,
      teamId: 'T0TEST',
      names: { U0ADA: 'Ada Lovelace' },
    });
  });

  after(async () => {
    await provider?.stop();
    await h?.stop();
  });

  test('the code is exchanged, the signed ID token verified, and the user becomes slack:<team>/<user>', async () => {
    const { back } = await signInWithSlack(h.url, 'U0ADA');
    assert.equal(back.status, 302, back.text);
    assert.equal(back.location, '/auth/me');
    const me = await http('GET', `${h.url}/auth/me`, { cookie: `bosun_session=${back.cookies.bosun_session}` });
    assert.deepEqual(me.json.actor, { id: 'slack:T0TEST/U0ADA', name: 'Ada Lovelace' });
    assert.deepEqual(me.json.scopes, ['read', 'build', 'approve']);
  });

  test('a code is good once: replaying the callback signs nobody in', async () => {
    const { back, callback, loginCookie } = await signInWithSlack(h.url, 'U0ADA');
    assert.equal(back.status, 302);
    const replay = await http('GET', callback, { cookie: loginCookie });
    assert.equal(replay.status, 400);
    assert.equal(replay.cookies.bosun_session, undefined);
  });

  test("a callback carrying another sign-in's state is refused", async () => {
    const first = await http('GET', `${h.url}/auth/slack`);
    const { callback } = await signInWithSlack(h.url, 'U0ADA');
    const r = await http('GET', callback, { cookie: `bosun_login=${first.cookies.bosun_login}` });
    assert.equal(r.status, 400);
    assert.equal(r.cookies.bosun_session, undefined);
  });

  test('a user of the workspace who is not in auth.allow gets no session', async () => {
    const { back } = await signInWithSlack(h.url, 'U0BOB');
    assert.equal(back.status, 403);
    assert.match(back.text, /slack:T0TEST\/U0BOB/);
    assert.equal(back.cookies.bosun_session, undefined);
  });
});

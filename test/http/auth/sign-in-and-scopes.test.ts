import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, testToken, type Harness } from '../../support/bosun-harness.js';
import { makeRepo } from '../../support/git-repo.js';
import { FakeGithubOAuth } from '../../fakes/fake-github-oauth.js';
import { http } from './auth-http.js';
import { runCli } from '../../../src/cli/run-cli.js';

const spec = 'version: 1\nimage: any\nstages:\n  test:\n    steps:\n      - name: unit\n        run: [echo private-log-line-42]\n';

describe('sign-in, sessions, CSRF and scoped API tokens', () => {
  let h: Harness;
  let gh: FakeGithubOAuth;
  let privateBuild: string;
  let publicBuild: string;

  before(async () => {
    gh = new FakeGithubOAuth('gh-client-id', 'gh-client-secret');
    await gh.start();
    h = await startHarness({
      auth: { allow: ['github:583231'], github: { clientId: 'gh-client-id', clientSecret: 'gh-client-secret', url: gh.url, apiUrl: gh.url } },
    });
    const secret = await makeRepo(h.dataDir, 'secret', { 'bosun.yml': spec });
    const open = await makeRepo(h.dataDir, 'open', { 'bosun.yml': spec.replace('private', 'public') });
    h.server.core.config.repos.secret = { url: secret.url, defaultBranch: 'master', secrets: [] };
    h.server.core.config.repos.open = { url: open.url, defaultBranch: 'master', secrets: [], public: true };
    privateBuild = (await h.api('POST', '/api/builds', { repo: 'secret', ref: 'master' })).json.build.id;
    publicBuild = (await h.api('POST', '/api/builds', { repo: 'open', ref: 'master' })).json.build.id;
    assert.equal((await h.waitDone(privateBuild)).status, 'success');
    assert.equal((await h.waitDone(publicBuild)).status, 'success');
  });

  after(async () => {
    await h?.stop();
    await gh?.stop();
  });

  /** Signs in through the fake GitHub as `gh.user`, following every redirect by hand. */
  async function signInWithGithub(next = '/'): Promise<{ cookie: string; landed: string | null; csrf: string }> {
    const start = await http('GET', `${h.url}/auth/github?next=${encodeURIComponent(next)}`);
    assert.equal(start.status, 302);
    assert.ok(start.location?.startsWith(`${gh.url}/login/oauth/authorize?`), String(start.location));
    const login = `bosun_login=${start.cookies.bosun_login}`;
    const approved = await http('GET', start.location ?? '');
    assert.equal(approved.status, 302);
    const back = await http('GET', approved.location ?? '', { cookie: login });
    assert.equal(back.status, 302, back.text);
    const session = back.cookies.bosun_session;
    assert.ok(session, 'a session cookie is set');
    const set = back.setCookie.find((c) => c.startsWith('bosun_session=')) ?? '';
    assert.match(set, /HttpOnly/);
    assert.match(set, /SameSite=Lax/);
    assert.match(set, /Max-Age=43200/);
    assert.doesNotMatch(set, /Secure/, 'plain http: no Secure flag');
    const cookie = `bosun_session=${session}`;
    const me = await http('GET', `${h.url}/auth/me`, { cookie });
    return { cookie, landed: back.location, csrf: me.json.csrfToken };
  }

  test('a signed-out visitor reads nothing of a private repository: API 401, pages redirect to sign-in', async () => {
    for (const path of [
      `/api/builds/${privateBuild}`,
      `/api/builds/${privateBuild}/logs/test/unit`,
      `/api/builds/${privateBuild}/events`,
      '/api/events',
      '/api/builds?repo=secret',
    ]) {
      const r = await http('GET', `${h.url}${path}`);
      assert.equal(r.status, 401, path);
      assert.doesNotMatch(r.text, /private-log-line|secret/, path);
    }
    const list = await http('GET', `${h.url}/api/builds`);
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.json.builds.map((b: { repo: string }) => b.repo),
      ['open'],
      'only the public repository is listed',
    );
    const page = await http('GET', `${h.url}/builds/${privateBuild}`, { headers: { accept: 'text/html' } });
    assert.equal(page.status, 302);
    assert.equal(page.location, `/auth/login?next=${encodeURIComponent(`/builds/${privateBuild}`)}`);
    const badge = await http('GET', `${h.url}/badge/secret/master.svg`);
    assert.equal(badge.status, 404);
    assert.match(badge.text, /unknown repository/);
  });

  test('a public repository is readable signed out; health, metrics and its badge stay open', async () => {
    assert.equal((await http('GET', `${h.url}/api/builds/${publicBuild}`)).status, 200);
    const log = await http('GET', `${h.url}/api/builds/${publicBuild}/logs/test/unit`);
    assert.equal(log.status, 200);
    assert.match(log.text, /public-log-line-42/);
    assert.equal((await http('GET', `${h.url}/builds/${publicBuild}`, { headers: { accept: 'text/html' } })).status, 200);
    assert.equal((await http('GET', `${h.url}/healthz`)).status, 200);
    assert.equal((await http('GET', `${h.url}/metrics`)).status, 200);
    const badge = await http('GET', `${h.url}/badge/open/master.svg`);
    assert.equal(badge.status, 200);
    assert.match(badge.text, /passing/);
  });

  test('the config API token (what the CLI uses) reads and builds as before', async () => {
    const auth = { authorization: `Bearer ${testToken}` };
    assert.equal((await http('GET', `${h.url}/api/builds/${privateBuild}`, { headers: auth })).status, 200);
    const log = await http('GET', `${h.url}/api/builds/${privateBuild}/logs/test/unit`, { headers: auth });
    assert.match(log.text, /private-log-line-42/);
    const list = await http('GET', `${h.url}/api/builds`, { headers: auth });
    assert.deepEqual(new Set(list.json.builds.map((b: { repo: string }) => b.repo)), new Set(['secret', 'open']));
    assert.equal((await http('POST', `${h.url}/api/commands`, { headers: auth, body: { text: 'status' } })).status, 200);
  });

  test('sign in with GitHub maps to github:<numeric id>, lands on next, and the session reads private builds', async () => {
    const { cookie, landed } = await signInWithGithub(`/builds/${privateBuild}`);
    assert.equal(landed, `/builds/${privateBuild}`);
    const me = await http('GET', `${h.url}/auth/me`, { cookie });
    assert.deepEqual(me.json.actor, { id: 'github:583231', name: 'octocat' });
    assert.equal(me.json.via, 'session');
    const log = await http('GET', `${h.url}/api/builds/${privateBuild}/logs/test/unit`, { cookie });
    assert.equal(log.status, 200);
    assert.match(log.text, /private-log-line-42/);
    assert.deepEqual(gh.requests.map((r) => `${r.method} ${r.path}`).slice(-3), ['GET /login/oauth/authorize', 'POST /login/oauth/access_token', 'GET /user']);
  });

  test('a GitHub user not in auth.allow gets no session', async () => {
    gh.user = { id: 999, login: 'stranger' };
    try {
      const start = await http('GET', `${h.url}/auth/github`);
      const approved = await http('GET', start.location ?? '');
      const back = await http('GET', approved.location ?? '', { cookie: `bosun_login=${start.cookies.bosun_login}` });
      assert.equal(back.status, 403);
      assert.match(back.text, /github:999/);
      assert.equal(back.cookies.bosun_session, undefined);
    } finally {
      gh.user = { id: 583231, login: 'octocat' };
    }
  });

  test('a callback without the login cookie, or with a forged state, is refused', async () => {
    const start = await http('GET', `${h.url}/auth/github`);
    const approved = await http('GET', start.location ?? '');
    assert.equal((await http('GET', approved.location ?? '')).status, 400, 'no login cookie (started in another browser)');
    const forged = new URL(approved.location ?? '');
    forged.searchParams.set('state', 'forged');
    const r = await http('GET', forged.href, { cookie: `bosun_login=${start.cookies.bosun_login}` });
    assert.equal(r.status, 400);
    assert.equal(r.cookies.bosun_session, undefined);
  });

  test('next never leaves Bosun (no open redirect)', async () => {
    const { landed } = await signInWithGithub('//evil.example/x');
    assert.equal(landed, '/');
  });

  test('a tampered session cookie is nobody', async () => {
    const { cookie } = await signInWithGithub();
    const [body, mac] = cookie.slice('bosun_session='.length).split('.');
    const claims = JSON.parse(Buffer.from(body ?? '', 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'github:1' })).toString('base64url');
    const r = await http('GET', `${h.url}/api/builds/${privateBuild}`, { cookie: `bosun_session=${forged}.${mac}` });
    assert.equal(r.status, 401);
  });

  test('CSRF: a state-changing request with the session cookie but no token is refused (403); with it, it runs', async () => {
    const { cookie, csrf } = await signInWithGithub();
    const forgedForm = await http('POST', `${h.url}/auth/tokens`, { cookie, form: { name: 'evil', scopes: ['read', 'build'] } });
    assert.equal(forgedForm.status, 403);
    assert.equal(forgedForm.json.error, 'csrf');
    const wrong = await http('POST', `${h.url}/api/builds`, { cookie, headers: { 'x-csrf-token': 'x'.repeat(32) }, body: { repo: 'secret' } });
    assert.equal(wrong.status, 403);
    const forgedApi = await http('POST', `${h.url}/api/builds`, { cookie, body: { repo: 'secret' } });
    assert.equal(forgedApi.status, 403);
    assert.equal((await http('GET', `${h.url}/auth/tokens`, { cookie })).text.includes('evil'), false, 'the forged form created nothing');

    const form = await http('POST', `${h.url}/auth/tokens`, { cookie, form: { _csrf: csrf, name: 'laptop', scopes: ['read'] } });
    assert.equal(form.status, 201);
    assert.match(form.text, /id="new-token">bsn_[0-9a-f]{12}_/);
    const api = await http('POST', `${h.url}/api/builds`, { cookie, headers: { 'x-csrf-token': csrf }, body: { repo: 'secret' } });
    assert.equal(api.status, 201, api.text);
    assert.equal(api.json.build.trigger.actor.id, 'github:583231');
  });

  test('API tokens: created with scopes, shown once, listed, enforced per route, revoked', async () => {
    const { cookie, csrf } = await signInWithGithub();
    const headers = { 'x-csrf-token': csrf };
    const reader = await http('POST', `${h.url}/api/tokens`, { cookie, headers, body: { name: 'reader', scopes: ['read'] } });
    assert.equal(reader.status, 201);
    assert.match(reader.json.token, /^bsn_/);
    const builder = await http('POST', `${h.url}/api/tokens`, { cookie, headers, body: { name: 'builder', scopes: ['read', 'build'] } });
    const r = { authorization: `Bearer ${reader.json.token}` };
    const b = { authorization: `Bearer ${builder.json.token}` };

    const listed = await http('GET', `${h.url}/api/tokens`, { headers: r });
    assert.deepEqual(
      listed.json.tokens
        .filter((t: { name: string }) => ['reader', 'builder'].includes(t.name))
        .map((t: { name: string; scopes: string[] }) => [t.name, t.scopes]),
      [
        ['reader', ['read']],
        ['builder', ['read', 'build']],
      ],
    );
    assert.ok(
      listed.json.tokens.every((t: Record<string, unknown>) => !('token' in t) && !('digest' in t)),
      'never shown again',
    );

    assert.equal((await http('GET', `${h.url}/api/builds/${privateBuild}/logs/test/unit`, { headers: r })).status, 200);
    const refused = await http('POST', `${h.url}/api/builds`, { headers: r, body: { repo: 'secret' } });
    assert.equal(refused.status, 403);
    assert.match(refused.json.message, /build scope/);
    assert.equal((await http('POST', `${h.url}/api/commands`, { headers: r, body: { text: 'build secret' } })).status, 403);
    assert.equal((await http('POST', `${h.url}/api/commands`, { headers: r, body: { text: 'status' } })).status, 200);
    const built = await http('POST', `${h.url}/api/builds`, { headers: b, body: { repo: 'secret' } });
    assert.equal(built.status, 201);
    assert.equal(built.json.build.trigger.actor.id, 'github:583231', 'a token acts as its creator');
    const approve = await http('POST', `${h.url}/api/commands`, { headers: b, body: { text: `pass ${built.json.build.id} test` } });
    assert.equal(approve.status, 403, 'approving needs the approve scope');
    assert.equal(
      (await http('POST', `${h.url}/api/tokens`, { headers: r, body: { name: 'escalate', scopes: ['build'] } })).status,
      403,
      'no token beyond its creator',
    );

    assert.equal((await http('DELETE', `${h.url}/api/tokens/${reader.json.id}`, { cookie, headers })).status, 200);
    assert.equal((await http('GET', `${h.url}/api/builds/${privateBuild}`, { headers: r })).status, 401, 'revoked');
    assert.equal((await http('GET', `${h.url}/api/builds/${privateBuild}`, { headers: b })).status, 200, 'the other token still works');
    assert.equal((await http('DELETE', `${h.url}/api/tokens/${reader.json.id}`, { cookie, headers })).status, 404);
    await h.waitDone(built.json.build.id);

    const audit = await http('GET', `${h.url}/api/audit?limit=1000`, { headers: { authorization: `Bearer ${testToken}` } });
    const mine = audit.json.entries.filter((e: { actorId: string; action: string }) => e.actorId === 'github:583231' && e.action.startsWith('auth.'));
    for (const action of ['auth.sign_in', 'auth.token_create', 'auth.token_revoke'])
      assert.ok(
        mine.some((e: { action: string }) => e.action === action),
        `${action} is in the audit trail`,
      );
    assert.ok(
      audit.json.entries.some(
        (e: { actorId: string; action: string; outcome: string }) => e.actorId === 'github:999' && e.action === 'auth.sign_in' && e.outcome === 'denied',
      ),
      'refused sign-ins too',
    );
  });

  test("the CLI works with a user's token, within its scopes", async () => {
    const { cookie, csrf } = await signInWithGithub();
    const reader = await http('POST', `${h.url}/api/tokens`, { cookie, headers: { 'x-csrf-token': csrf }, body: { name: 'cli', scopes: ['read'] } });
    const cli = async (...argv: string[]) => {
      let stdout = '';
      let stderr = '';
      const code = await runCli({
        argv: ['--url', h.url, '--token', reader.json.token, ...argv],
        env: { HOME: h.dataDir },
        cwd: h.dataDir,
        stdout: { write: (t) => void (stdout += t) },
        stderr: { write: (t) => void (stderr += t) },
        readStdin: async () => '',
      });
      return { code, out: stdout + stderr };
    };
    const logs = await cli('logs', privateBuild, 'test/unit');
    assert.equal(logs.code, 0, logs.out);
    assert.match(logs.out, /private-log-line-42/);
    const build = await cli('build', 'secret');
    assert.equal(build.code, 1);
    assert.match(build.out, /lacks the build scope/);
  });

  test('sign-out needs the CSRF token, clears the cookie and revokes the session', async () => {
    const { cookie, csrf } = await signInWithGithub();
    assert.equal((await http('POST', `${h.url}/auth/logout`, { cookie, form: {} })).status, 403);
    const out = await http('POST', `${h.url}/auth/logout`, { cookie, form: { _csrf: csrf } });
    assert.equal(out.status, 303);
    assert.match(out.setCookie.find((c) => c.startsWith('bosun_session=')) ?? '', /Max-Age=0/);
    assert.equal((await http('GET', `${h.url}/api/builds/${privateBuild}`, { cookie })).status, 401, 'the old cookie is dead');
  });
});

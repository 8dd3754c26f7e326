import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Build } from '../../src/domain/build.js';
import { createHash } from 'node:crypto';
import type { Deploy } from '../../src/domain/deploy.js';
import { DeployStore } from '../../src/deploys/deploy-store.js';
import { EnvironmentConfig } from '../../src/deploys/environment-config.js';
import { findBuilds, type BuildFilters } from '../../src/http/web/pages/builds-page.js';
import { buildPage } from '../../src/http/web/pages/build-page.js';
import { environmentsPage } from '../../src/http/web/pages/environments-page.js';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { allowSlackTeam, openBrowser, signedIn } from './console-bed.js';

function fakeBuild(id: number, over: Partial<Build> = {}): Build {
  return {
    id: String(id),
    repo: 'a',
    ref: id % 2 ? 'master' : 'feature',
    sha: 'f'.repeat(40),
    status: id % 3 ? 'success' : 'failed',
    stages: [],
    attempt: 1,
    version: 1,
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, id)).toISOString(),
    trigger: { event: 'manual', source: 'slack', actor: { id: `slack:T1/U${id % 4}`, name: `user${id % 4}` } },
    ...over,
  };
}

/** 100 builds, newest first, as the store lists them. */
const all = Array.from({ length: 100 }, (_, i) => fakeBuild(100 - i));
const lister = { list: async (o: { offset?: number; limit?: number }) => all.slice(o.offset ?? 0, (o.offset ?? 0) + (o.limit ?? 20)) };

const pages: { name: string; filters: BuildFilters; ids: string[]; next: number | null }[] = [
  { name: 'the first page holds the 25 newest', filters: { from: 0 }, ids: all.slice(0, 25).map((b) => b.id), next: 25 },
  { name: 'the last page ends the list', filters: { from: 75 }, ids: all.slice(75).map((b) => b.id), next: null },
  {
    name: 'branch and status filter together',
    filters: { from: 0, branch: 'feature', status: 'failed' },
    ids: ['96', '90', '84', '78', '72', '66', '60', '54', '48', '42', '36', '30', '24', '18', '12', '6'],
    next: null,
  },
  {
    name: 'person matches a name part or the exact id',
    filters: { from: 0, person: 'slack:T1/U1', status: 'failed' },
    ids: ['93', '81', '69', '57', '45', '33', '21', '9'],
    next: null,
  },
  {
    name: 'a filtered page continues where the last one stopped',
    filters: { from: 0, branch: 'master' },
    ids: all
      .filter((b) => b.ref === 'master')
      .slice(0, 25)
      .map((b) => b.id),
    next: all.findIndex((b) => b.id === '49'),
  },
  {
    name: 'the next filtered page starts there',
    filters: { from: 51, branch: 'master' },
    ids: all
      .filter((b) => b.ref === 'master')
      .slice(25)
      .map((b) => b.id),
    next: null,
  },
  {
    name: 'person matches part of a name, case-insensitively',
    filters: { from: 0, person: 'USER2', status: 'failed' },
    ids: ['90', '78', '66', '54', '42', '30', '18', '6'],
    next: null,
  },
];

for (const c of pages) {
  test(`builds list: ${c.name}`, async () => {
    const r = await findBuilds(lister, c.filters);
    assert.deepEqual(
      r.builds.map((b) => b.id),
      c.ids,
    );
    assert.equal(r.next, c.next);
  });
}

const digest = `sha256:${'ab12'.repeat(16)}`;
function fakeDeploy(id: string, over: Partial<Deploy> = {}): Deploy {
  return {
    id,
    environment: 'staging',
    repo: 'a',
    buildId: '7',
    sha: 'c0ffee'.padEnd(40, '0'),
    image: 'reg:5000/acme/api',
    digest,
    ref: `reg:5000/acme/api@${digest}`,
    kind: 'deploy',
    requestedBy: { id: 'slack:T1/UDEP', name: 'deployer' },
    source: 'slack',
    state: 'succeeded',
    approvals: [],
    createdAt: '2026-01-01T10:00:00.000Z',
    startedAt: '2026-01-01T10:00:01.000Z',
    finishedAt: '2026-01-01T10:00:30.000Z',
    version: 3,
    ...over,
  };
}
const hostile = '<script>alert(1)</script>';
const published: Build['published'] = [
  {
    kind: 'docker',
    stage: 'image',
    image: 'reg:5000/acme/api',
    tag: 'c0ffee',
    digest,
    ref: `reg:5000/acme/api@${digest}`,
    publishedAt: '2026-01-01T09:59:00.000Z',
  },
  {
    kind: 'pypi',
    stage: 'wheel',
    repository: 'internal',
    package: 'acme-api',
    version: '1.2.0',
    files: [{ filename: 'acme_api-1.2.0-py3-none-any.whl', sha256: 'fe'.repeat(32) }],
    publishedAt: '2026-01-01T09:59:00.000Z',
  },
];
const staging = EnvironmentConfig.parse({ repo: 'a', approvers: 'ops', target: { swarmService: { name: 'acme-staging' } } });

const rendered: { name: string; html: () => string; shows: RegExp[]; never?: RegExp[] }[] = [
  {
    name: 'the build page lists each artifact with its size, short sha256 and a download link to the API route',
    html: () =>
      buildPage(
        fakeBuild(7, { artifacts: [{ path: 'dist/app 1.whl', stage: 'build', step: 'wheel', size: 2048, sha256: '0123456789ab'.padEnd(64, 'c') }] }),
        null,
        '',
      ).value,
    shows: [/<code>dist\/app 1\.whl<\/code>/, /2 KiB/, />0123456789ab<\/code>/, /href="\/api\/builds\/7\/artifacts\/dist\/app%201\.whl"/],
  },
  {
    name: 'the build page shows what it published: the image by digest, the Python files with their hashes',
    html: () => buildPage(fakeBuild(7, { published }), null, '').value,
    shows: [
      new RegExp(`reg:5000/acme/api@${digest}`),
      /acme-api 1\.2\.0 to internal/,
      /acme_api-1\.2\.0-py3-none-any\.whl<\/code> <span class="muted">sha256<\/span> <code[^>]*>fefefefefefe</,
    ],
  },
  {
    name: 'the build page lists the deploys of the build: environment, outcome, who and when',
    html: () => buildPage(fakeBuild(7), null, '', [fakeDeploy('4', { state: 'failed', reason: 'the task did not become healthy' }), fakeDeploy('3')]).value,
    shows: [
      /data-deploy="4".*href="\/environments#env-staging">staging<.*failed.*the task did not become healthy.*deployer.*1 Jan 10:00 UTC/s,
      /data-deploy="3".*succeeded/s,
    ],
  },
  {
    name: 'a hostile artifact path is text, not markup, and its link is percent-encoded',
    html: () =>
      buildPage(
        fakeBuild(7, { artifacts: [{ path: `out/${hostile.replace('/', '_')}.txt`, stage: 'b', step: 's', size: 1, sha256: 'a'.repeat(64) }] }),
        null,
        '',
      ).value,
    shows: [/&lt;script&gt;alert\(1\)&lt;_script&gt;\.txt/, /artifacts\/out\/%3Cscript%3Ealert\(1\)%3C_script%3E\.txt"/],
    never: [/<script>alert/],
  },
  {
    name: 'the environments page says what runs where, since when, who deployed it and who locked it and why',
    html: () =>
      environmentsPage(
        [
          {
            name: 'staging',
            config: staging,
            current: fakeDeploy('3'),
            recent: [fakeDeploy('4', { state: 'running', finishedAt: undefined as never }), fakeDeploy('3')],
            lock: { by: { id: 'slack:T1/UOPS', name: 'opsperson' }, reason: 'freeze for the audit', at: '2026-01-01T11:00:00.000Z' },
          },
        ],
        Date.parse('2026-01-01T10:05:30.000Z'),
      ).value,
    shows: [
      /data-env="staging".*swarm service acme-staging.*approvers ops.*>ab12ab12ab12<.*c0ffee0.*#7.*5m 00s ago.*deployer.*locked by <b>opsperson<\/b>.*freeze for the audit/s,
      /data-deploy="4".*running/s,
      /data-deploy="3".*succeeded/s,
    ],
  },
  {
    name: 'a hostile lock reason is text, not markup',
    html: () =>
      environmentsPage([
        { name: 'staging', config: staging, recent: [], lock: { by: { id: 'x', name: hostile }, reason: hostile, at: '2026-01-01T11:00:00.000Z' } },
      ]).value,
    shows: [/locked by <b>&lt;script&gt;alert\(1\)&lt;\/script&gt;<\/b>/, /nothing deployed by Bosun/, /No deploys yet/],
    never: [/<script>alert/],
  },
  {
    name: 'without environments the page says so',
    html: () => environmentsPage(null).value,
    shows: [/no environments configured/],
  },
];

for (const c of rendered) {
  test(`rendered: ${c.name}`, () => {
    const out = c.html();
    for (const re of c.shows) assert.match(out, re);
    for (const re of c.never ?? []) assert.doesNotMatch(out, re);
  });
}

let h: Harness;
let b: Awaited<ReturnType<typeof openBrowser>>;
before(async () => {
  h = await startHarness({
    pools: { device: { items: [{ id: 'pixel-1', attributes: ['android'] }], healthCheck: ['true'], reminderLeadSec: 0 } },
    ...allowSlackTeam,
  } as never);
  b = await openBrowser();
});
after(async () => {
  await b?.close();
  await h?.stop();
});

test('the builds page filters by repository, branch, status and person, with durations; the build page shows stages and failing tests', async () => {
  const repo = await makeRepo(h.dataDir, 'pages', {
    'bosun.yml':
      'version: 1\nimage: any\nstages:\n  test:\n    steps:\n      - name: unit\n        run: echo ok\n  lint:\n    needs: [test]\n    steps:\n      - name: style\n        run: echo fine\n',
  });
  await repo.commit({ 'bosun.yml': 'version: 1\nimage: any\nstages:\n  test:\n    steps:\n      - name: unit\n        run: exit 3\n' }, 'broken', 'feature/x');
  h.server.core.config.repos.pages = { url: repo.url, defaultBranch: 'master', secrets: [], public: true };
  h.server.core.config.repos.secret = { url: repo.url, defaultBranch: 'master', secrets: [] };
  const good = (await h.api('POST', '/api/builds', { repo: 'pages' })).json.build.id as string;
  const bad = (await h.api('POST', '/api/builds', { repo: 'pages', ref: 'feature/x' })).json.build.id as string;
  const hidden = (await h.api('POST', '/api/builds', { repo: 'secret' })).json.build.id as string;
  await h.waitDone(hidden);
  assert.equal((await h.waitDone(good)).status, 'success');
  assert.equal((await h.waitDone(bad)).status, 'failed');
  // A JUnit summary, as the reports work records it on the stage.
  await h.server.core.store.update(bad, (x) => {
    x.stages[0]!.tests = {
      total: 12,
      failed: 1,
      errors: 0,
      skipped: 2,
      failures: [{ name: 'cart.test_total', message: 'expected 3 <b>got</b> 4', file: 'tests/test_cart.py', line: 42 }],
      files: ['junit.xml'],
    };
    return [];
  });

  const page = await b.page();
  await page.goto(`${h.url}/?repo=pages&branch=feature/x&status=failed&person=tester`);
  assert.deepEqual(await page.locator('#builds tr[data-build]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-build'))), [bad]);
  assert.match((await page.locator(`tr[data-build="${bad}"]`).textContent()) ?? '', /\d+(ms|s)/, 'a duration');
  await page.goto(`${h.url}/?status=success`);
  assert.deepEqual(
    await page.locator('#builds tr[data-build]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-build'))),
    [good],
    'a signed-out visitor sees the public repository only',
  );
  const member = await b.page({ session: signedIn(h.dataDir, 'slack:T1/UMEMBER'), url: h.url });
  await member.goto(`${h.url}/?status=success`);
  assert.deepEqual(
    await member.locator('#builds tr[data-build]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-build'))),
    [hidden, good],
    'signed in: every repository',
  );
  await page.goto(`${h.url}/?person=nobody`);
  await page.locator('#builds', { hasText: 'No builds match these filters.' }).waitFor();

  await page.goto(`${h.url}/builds/${good}`);
  assert.deepEqual(
    await page.locator('.graph .col').evaluateAll((cols) => cols.map((c) => [...c.querySelectorAll('.stage')].map((s) => s.getAttribute('data-stage')))),
    [['test'], ['lint']],
    'lint needs test: a column later',
  );
  await page.goto(`${h.url}/builds/${bad}`);
  const tests = page.locator('[data-tests="test"]');
  assert.match((await tests.textContent()) ?? '', /1 of 12 failing/);
  assert.match((await tests.textContent()) ?? '', /cart\.test_total.*expected 3 <b>got<\/b> 4.*tests\/test_cart\.py:42/s, 'failure text shown as text');
  assert.match((await page.locator('.step[data-key="test/unit"] .step-head').textContent()) ?? '', /exit 3/);
});

test('the leases page shows who holds what and who waits; the holder releases and renews from the web', async () => {
  const leases = h.server.core.deps.leases!;
  const alice = { id: 'slack:T1/UALICE', name: 'UALICE' };
  const bob = { id: 'slack:T1/UBOB', name: 'UBOB' };
  const held = await leases.acquire('device', [], alice, 600);
  assert.equal(held.status, 'granted');
  await leases.acquire('device', [], bob, 600);

  const asBob = await b.page({ session: signedIn(h.dataDir, bob.id), url: h.url });
  await asBob.goto(`${h.url}/leases`);
  const row = asBob.locator('tr[data-item="pixel-1"]');
  assert.match((await row.textContent()) ?? '', /UALICE/);
  assert.equal(await row.locator('button').count(), 0, 'only the holder gets release/renew');
  assert.match((await asBob.locator('ol.line').textContent()) ?? '', /UBOB/);

  const asAlice = await b.page({ session: signedIn(h.dataDir, alice.id), url: h.url });
  await asAlice.goto(`${h.url}/leases`);
  await asAlice.selectOption('tr[data-item="pixel-1"] select[name="ttl"]', '2h');
  await asAlice.locator('tr[data-item="pixel-1"] button', { hasText: 'Renew' }).click();
  await asAlice.locator('.notice', { hasText: 'Renewed' }).waitFor();
  await asAlice.locator('tr[data-item="pixel-1"] button', { hasText: 'Release' }).click();
  await asAlice.locator('.notice', { hasText: 'Released pixel-1' }).waitFor();
});

test('a build page shows its artifacts (downloaded with the right sha256 when signed in, refused signed out), its publication and deploy; /environments lists the deploy and escapes a hostile lock reason', async () => {
  const weird = '<script>x.txt';
  const spec = `version: 1\nimage: any\nstages:\n  build:\n    steps:\n      - name: pack\n        run: ["mkdir -p dist", "printf 'wheel bytes %s' 42 > dist/app.whl", "printf pwned > 'dist/${weird}'"]\n        artifacts: [dist/**]\n`;
  const repo = await makeRepo(h.dataDir, 'shipped', { 'bosun.yml': spec });
  h.server.core.config.repos.shipped = { url: repo.url, defaultBranch: 'master', secrets: [] };
  const id = (await h.api('POST', '/api/builds', { repo: 'shipped' })).json.build.id as string;
  const done = await h.waitDone(id);
  assert.equal(done.status, 'success', JSON.stringify(done.error));
  const wheel = done.artifacts?.find((a) => a.path === 'dist/app.whl');
  assert.ok(wheel, `artifacts recorded: ${JSON.stringify(done.artifacts)}`);
  assert.equal(wheel.sha256, createHash('sha256').update('wheel bytes 42').digest('hex'));
  await h.server.core.store.update(id, (x) => {
    x.published = published.map((p) => ({ ...p }));
    return [];
  });

  // A deploy record and a lock, written through the deploy store as the deploy manager writes them.
  const core = h.server.core;
  core.config.environments.staging = EnvironmentConfig.parse({ repo: 'shipped', target: { run: { image: 'any', commands: ['true'] } } });
  const deploys = new DeployStore(core.redis, core.prefix);
  const deployId = await deploys.nextId();
  await deploys.create(fakeDeploy(deployId, { repo: 'shipped', buildId: id, sha: done.sha, requestedBy: { id: 'slack:T1/UDEP', name: 'deployer' } }));
  await deploys.lock('staging', { by: { id: 'slack:T1/UOPS', name: 'opsperson' }, reason: hostile, at: new Date().toISOString() });

  const session = signedIn(h.dataDir, 'slack:T1/UMEMBER');
  const page = await b.page({ session, url: h.url });
  await page.goto(`${h.url}/builds/${id}`);
  const row = page.locator('#artifacts tr[data-artifact="dist/app.whl"]');
  assert.match((await row.textContent()) ?? '', new RegExp(`dist/app\\.whl.*build/pack.*14 B.*${wheel.sha256.slice(0, 12)}`, 's'));
  assert.equal(await page.locator('#artifacts tr[data-artifact]', { hasText: weird }).count(), 1, 'the hostile file name is shown as text');
  const [download] = await Promise.all([page.waitForEvent('download'), row.locator('a', { hasText: 'download' }).click()]);
  const { readFile } = await import('node:fs/promises');
  assert.equal(
    createHash('sha256')
      .update(await readFile((await download.path())!))
      .digest('hex'),
    wheel.sha256,
    'the downloaded file has the recorded sha256',
  );
  assert.match((await page.locator('#published').textContent()) ?? '', new RegExp(`reg:5000/acme/api@${digest}.*acme_api-1\\.2\\.0-py3-none-any\\.whl`, 's'));
  assert.match((await page.locator(`#deploys tr[data-deploy="${deployId}"]`).textContent()) ?? '', /staging.*succeeded.*ab12ab12ab12.*deployer/s);

  const href = await row.locator('a').getAttribute('href');
  const signedOut = await fetch(`${h.url}${href}`, { redirect: 'manual' });
  assert.equal(signedOut.status, 401, "a private repository's artifact needs a signed-in user or a token");
  const withCookie = await fetch(`${h.url}${href}`, { headers: { cookie: `${session.cookie}=${session.value}` } });
  assert.equal(withCookie.status, 200);
  assert.equal(
    createHash('sha256')
      .update(Buffer.from(await withCookie.arrayBuffer()))
      .digest('hex'),
    wheel.sha256,
  );

  await page.locator('header nav a', { hasText: 'Environments' }).click();
  await page.waitForURL(`${h.url}/environments`);
  const env = page.locator('#environments tr[data-env="staging"]');
  assert.match(
    (await env.textContent()) ?? '',
    new RegExp(`shipped.*ab12ab12ab12.*${done.sha.slice(0, 7)}.*#${id}.*ago.*deployer.*locked by opsperson.*${hostile.replace(/[()]/g, '\\$&')}`, 's'),
    'the lock reason is shown as text',
  );
  assert.equal(await page.locator('script:not([src])').count(), 0, 'no inline script came from the lock reason');
  assert.match((await page.locator(`table.deploys[data-env="staging"] tr[data-deploy="${deployId}"]`).textContent()) ?? '', /succeeded/);

  const anon = await fetch(`${h.url}/environments`, { redirect: 'manual', headers: { accept: 'text/html' } });
  assert.equal(anon.status, 302, 'a signed-out browser is sent to sign in');
  assert.doesNotMatch(await anon.text(), /opsperson/);
  assert.equal((await fetch(`${h.url}/environments`)).status, 401, 'signed out without a browser: 401');
  assert.match(anon.headers.get('location') ?? '', /^\/auth\/login/);
});

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Build } from '../../src/domain/build.js';
import { findBuilds, type BuildFilters } from '../../src/http/web/pages/builds-page.js';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { allowSlackTeam, openBrowser, signedIn } from './console-bed.js';

function fakeBuild(id: number, over: Partial<Build> = {}): Build {
  return {
    id: String(id), repo: 'a', ref: id % 2 ? 'master' : 'feature', sha: 'f'.repeat(40), status: id % 3 ? 'success' : 'failed', stages: [], attempt: 1, version: 1,
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
  { name: 'branch and status filter together', filters: { from: 0, branch: 'feature', status: 'failed' }, ids: ['96', '90', '84', '78', '72', '66', '60', '54', '48', '42', '36', '30', '24', '18', '12', '6'], next: null },
  { name: 'person matches a name part or the exact id', filters: { from: 0, person: 'slack:T1/U1', status: 'failed' }, ids: ['93', '81', '69', '57', '45', '33', '21', '9'], next: null },
  { name: 'a filtered page continues where the last one stopped', filters: { from: 0, branch: 'master' }, ids: all.filter((b) => b.ref === 'master').slice(0, 25).map((b) => b.id), next: all.findIndex((b) => b.id === '49') },
  { name: 'the next filtered page starts there', filters: { from: 51, branch: 'master' }, ids: all.filter((b) => b.ref === 'master').slice(25).map((b) => b.id), next: null },
  { name: 'person matches part of a name, case-insensitively', filters: { from: 0, person: 'USER2', status: 'failed' }, ids: ['90', '78', '66', '54', '42', '30', '18', '6'], next: null },
];

for (const c of pages) {
  test(`builds list: ${c.name}`, async () => {
    const r = await findBuilds(lister, c.filters);
    assert.deepEqual(r.builds.map((b) => b.id), c.ids);
    assert.equal(r.next, c.next);
  });
}

let h: Harness;
let b: Awaited<ReturnType<typeof openBrowser>>;
before(async () => {
  h = await startHarness(
    { pools: { device: { items: [{ id: 'pixel-1', attributes: ['android'] }], healthCheck: ['true'], reminderLeadSec: 0 } }, ...allowSlackTeam } as never,
  );
  b = await openBrowser();
});
after(async () => {
  await b?.close();
  await h?.stop();
});

test('the builds page filters by repository, branch, status and person, with durations; the build page shows stages and failing tests', async () => {
  const repo = await makeRepo(h.dataDir, 'pages', { 'bosun.yml': 'version: 1\nimage: any\nstages:\n  test:\n    steps:\n      - name: unit\n        run: echo ok\n  lint:\n    needs: [test]\n    steps:\n      - name: style\n        run: echo fine\n' });
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
    x.stages[0]!.tests = { total: 12, failed: 1, errors: 0, skipped: 2, failures: [{ name: 'cart.test_total', message: 'expected 3 <b>got</b> 4', file: 'tests/test_cart.py', line: 42 }], files: ['junit.xml'] };
    return [];
  });

  const page = await b.page();
  await page.goto(`${h.url}/?repo=pages&branch=feature/x&status=failed&person=tester`);
  assert.deepEqual(await page.locator('#builds tr[data-build]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-build'))), [bad]);
  assert.match((await page.locator(`tr[data-build="${bad}"]`).textContent()) ?? '', /\d+(ms|s)/, 'a duration');
  await page.goto(`${h.url}/?status=success`);
  assert.deepEqual(await page.locator('#builds tr[data-build]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-build'))), [good], 'a signed-out visitor sees the public repository only');
  const member = await b.page({ session: signedIn(h.dataDir, 'slack:T1/UMEMBER'), url: h.url });
  await member.goto(`${h.url}/?status=success`);
  assert.deepEqual(await member.locator('#builds tr[data-build]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-build'))), [hidden, good], 'signed in: every repository');
  await page.goto(`${h.url}/?person=nobody`);
  await page.locator('#builds', { hasText: 'No builds match these filters.' }).waitFor();

  await page.goto(`${h.url}/builds/${good}`);
  assert.deepEqual(await page.locator('.graph .col').evaluateAll((cols) => cols.map((c) => [...c.querySelectorAll('.stage')].map((s) => s.getAttribute('data-stage')))), [['test'], ['lint']], 'lint needs test: a column later');
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

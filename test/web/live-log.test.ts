import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { eventually, openBrowser } from './console-bed.js';

// Three steps: two in `test` (the second starts after the page loaded), one in `later` (needs test).
// Each prints slowly, with ANSI colour, bold, a `<script>` line and several `+ cmd` sections.
const loop = (tag: string, n: number) => `for i in $(seq 1 ${n}); do echo ${tag} line $i; sleep 0.05; done`;
const spec = [
  'version: 1',
  'image: any',
  'stages:',
  '  test:',
  '    steps:',
  '      - name: first',
  '        run:',
  `          - printf '\\033[31mred text\\033[0m and \\033[1mbold text\\033[0m\\n'`,
  `          - echo '<script>window.pwned = 1</script>'`,
  `          - '${loop('first', 40)}'`,
  '      - name: second',
  '        run:',
  `          - '${loop('second', 40)}'`,
  '  later:',
  '    needs: [test]',
  '    steps:',
  '      - name: tail',
  '        run:',
  `          - '${loop('tail', 30)}'`,
  `          - echo needle-in-the-tail`,
  '',
].join('\n');

let h: Harness;
let b: Awaited<ReturnType<typeof openBrowser>>;

before(async () => {
  h = await startHarness();
  b = await openBrowser();
});
after(async () => {
  await b?.close();
  await h?.stop();
});

test('a running build streams every step live through a forced SSE reconnect, with no lost or doubled line', async () => {
  const repo = await makeRepo(h.dataDir, 'live', { 'bosun.yml': spec });
  h.server.core.config.repos.live = { url: repo.url, defaultBranch: 'master', secrets: [], public: true };

  // Watch the log-stream connections so the test can cut one, and what they resume from.
  const streams: { socket: Socket; lastEventId: string | undefined; url: string }[] = [];
  h.server.http.server.on('request', (req) => {
    if (req.url?.includes('/log-stream')) streams.push({ socket: req.socket, lastEventId: req.headers['last-event-id'] as string | undefined, url: req.url });
  });

  const created = await h.api('POST', '/api/builds', { repo: 'live' });
  assert.equal(created.status, 201);
  const id = created.json.build.id as string;
  const page = await b.page();
  let lastSeen = '';
  await page.goto(`${h.url}/builds/${id}`);
  type Probe = { steps: { key: string; lines: number; duplicates: number; gaps: number; ended: boolean }[]; streamOpens: number };
  const probe = () => page.evaluate(() => ((globalThis as any).bosunLog as Probe | undefined) ?? null);

  // Some lines arrive live; then the server side of the stream is cut mid-build.
  await eventually(
    async () => {
      const b = await h.server.core.store.get(id);
      if (b?.status === 'failed' || b?.status === 'failed_infra') throw new Error(`build failed: ${JSON.stringify(b.error ?? b.stages)}`);
      const p = await probe();
      lastSeen = `build ${b?.status}, page ${JSON.stringify(p)}, ${streams.length} stream connections`;
      return (p?.steps[0]?.lines ?? 0) >= 10 && streams.length > 0;
    },
    90_000,
    'the first live lines',
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last seen: ${lastSeen}`);
  });
  const before = await h.server.core.store.get(id);
  assert.ok(before && before.status !== 'success', 'the build is still running when the stream is cut');
  // Cut only once the current connection has delivered live lines (so the browser holds an event id).
  const linesNow = async () => ((await probe())?.steps ?? []).reduce((n, st) => n + st.lines, 0);
  const base = await linesNow();
  await eventually(async () => (await linesNow()) > base + 2, 60_000, 'live lines on the current connection');
  const cut = streams.length;
  streams[cut - 1]!.socket.destroy();
  const resumed = await eventually(() => streams.slice(cut).find((s) => s.lastEventId), 30_000, 'the browser to reconnect with Last-Event-ID');
  assert.match(resumed.lastEventId ?? '', /^\d+:\d+/, `the reconnect resumes from the last line seen (Last-Event-ID ${resumed.lastEventId})`);

  const done = await h.waitDone(id, 120_000);
  assert.equal(done.status, 'success');
  await eventually(async () => (await probe())?.steps.every((s) => s.ended), 60_000, 'every step to end on the page');
  const seen = (await probe())!;
  assert.deepEqual(
    seen.steps.map((s) => s.key),
    ['test/first', 'test/second', 'later/tail'],
  );
  for (const [i, s] of seen.steps.entries()) {
    const server = await h.server.core.logs.read(id, s.key.split('/')[0]!, s.key.split('/')[1]!);
    const shown = await page.evaluate((k) => (globalThis as any).bosunLog.text(k) as string, i);
    assert.equal(shown, server.map((l) => l.text).join('\n'), `${s.key}: the page shows exactly the stored log`);
    assert.equal(s.duplicates, 0, `${s.key}: no doubled line`);
    assert.equal(s.gaps, 0, `${s.key}: no lost line`);
  }
  assert.ok(seen.streamOpens >= 2, 'the page reconnected its stream');
  console.log(
    `live log: ${seen.steps.map((s) => `${s.key} ${s.lines} lines`).join(', ')}; stream connections ${streams.length}, resumed from ${resumed.lastEventId}`,
  );

  // ANSI renders as colour and bold; `<script>` in the log stays text.
  // The first step's first lines: open it and scroll its log to the top (only rows in view are drawn).
  await page.evaluate(() => {
    const step = (globalThis as any).document.querySelector('.step[data-i="0"]');
    if (step.classList.contains('closed')) step.querySelector('.step-head').click();
    step.scrollIntoView();
    step.querySelector('.viewport').scrollTop = 0;
  });
  const red = page.locator('.step[data-i="0"] .ln .fc1', { hasText: 'red text' });
  await red.waitFor();
  assert.equal(await red.evaluate((el) => (globalThis as any).getComputedStyle(el).color), 'rgb(255, 123, 114)');
  const bold = page.locator('.step[data-i="0"] .ln .ab', { hasText: 'bold text' });
  assert.equal(await bold.evaluate((el) => (globalThis as any).getComputedStyle(el).fontWeight), '700');
  assert.equal(await page.evaluate(() => (globalThis as any).pwned), undefined, 'the log cannot run script');
  const asText = await page
    .locator('.step[data-i="0"] .ln .tx')
    .evaluateAll((els) => els.filter((e) => e.textContent === '<script>window.pwned = 1</script>').length);
  assert.equal(asText, 1, 'the tag shows as text');
  assert.equal(await page.locator('.step[data-i="0"] .ln script').count(), 0);

  // Sections fold at each `+ cmd` line.
  const cmd = page.locator('.step[data-i="0"] .ln.cmd', { hasText: '+ for i in' });
  await cmd.locator('.fold').click();
  await eventually(async () => (await page.locator('.step[data-i="0"] .ln', { hasText: 'first line 7' }).count()) === 0, 60_000, 'the section to fold');
  await page.locator('.step[data-i="0"] .ln.cmd', { hasText: '+ for i in' }).locator('.fold').click();
  await page.locator('.step[data-i="0"] .ln', { hasText: 'first line 7' }).first().waitFor();

  // Timestamps on demand.
  await page.check('#log-times');
  await eventually(
    async () => /^\d\d:\d\d:\d\d\.\d{3}$/.test((await page.locator('.step[data-i="0"] .ln .ts').first().textContent()) ?? ''),
    60_000,
    'a timestamp on each line',
  );

  // Search across the build finds a line in another step, then next/previous move between hits.
  await page.fill('#log-search', 'needle-in-the-tail');
  await page.press('#log-search', 'Enter');
  await page.locator('.step[data-i="2"] .ln.hit', { hasText: 'needle-in-the-tail' }).waitFor();
  assert.equal(await page.textContent('#log-hits'), '1 of 2', 'the `+ echo` line and its output');
  await page.fill('#log-search', 'second line 3');
  await page.press('#log-search', 'Enter');
  await eventually(async () => (await page.textContent('#log-hits')) === '1 of 11', 60_000, 'hits for "second line 3" (3, 30–39)');
  await page.click('#log-next');
  await page.locator('.step[data-i="1"] .ln.hit[data-n="31"]').waitFor();
  await page.click('#log-prev');
  await page.click('#log-prev');
  await page.locator('.step[data-i="1"] .ln.hit[data-n="40"]').waitFor();
  await page.selectOption('#log-scope', '0');
  await page.fill('#log-search', 'line 3');
  await page.press('#log-search', 'Enter');
  await eventually(async () => (await page.textContent('#log-hits')) === '1 of 11', 60_000, 'search within one step only');

  // A permalink opens at its line.
  const link = await page.locator('.step[data-i="1"] .ln[data-n="31"] a.num').getAttribute('href');
  assert.equal(link, '#test/second:L31');
  const fresh = await b.page();
  await fresh.goto(`${h.url}/builds/${id}#test/second:L25`);
  const target = fresh.locator('.step[data-i="1"] .ln.target[data-n="25"]');
  await target.waitFor();
  assert.match((await target.textContent()) ?? '', /second line 24$/, 'line 25 is "second line 24" (after the `+ for …` line)');
  assert.ok(await target.isVisible());
  const inView = await target.evaluate((el) => {
    const r = el.getBoundingClientRect();
    const v = el.closest('.viewport')!.getBoundingClientRect();
    return r.top >= v.top && r.bottom <= v.bottom && r.top >= 0 && r.bottom <= (globalThis as any).innerHeight;
  });
  assert.ok(inView, 'the permalinked line is on screen');

  // Raw download.
  const raw = await fetch(`${h.url}/api/builds/${id}/logs/test/second?download=1`);
  assert.match(raw.headers.get('content-disposition') ?? '', /attachment; filename="build-\d+-test-second.log"/);
  assert.match(await raw.text(), /second line 40\n$/);
});

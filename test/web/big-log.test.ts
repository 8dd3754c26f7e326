import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { eventually, openBrowser } from './console-bed.js';

const total = 1_000_000;
const needle = 777_777;

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

/** A finished build whose one step's log is replaced by `total` lines (some coloured), as a step writing them would leave it. */
async function buildWithBigLog(): Promise<string> {
  const repo = await makeRepo(h.dataDir, 'big', {
    'bosun.yml': 'version: 1\nimage: any\nstages:\n  test:\n    steps:\n      - name: big\n        run: echo small\n',
  });
  h.server.core.config.repos.big = { url: repo.url, defaultBranch: 'master', secrets: [], public: true };
  const created = await h.api('POST', '/api/builds', { repo: 'big' });
  const id = created.json.build.id as string;
  assert.equal((await h.waitDone(id, 120_000)).status, 'success');
  const logs = h.server.core.logs;
  await logs.reset(id, 'test', 'big');
  const batch = 5000;
  for (let first = 1; first <= total; first += batch) {
    const lines: string[] = [];
    for (let n = first; n < first + batch; n++) {
      lines.push(
        n === needle
          ? `needle-${n} is here`
          : n % 1000 === 1
            ? `+ make part-${n}`
            : n % 7 === 0
              ? `\x1b[32mok\x1b[0m test ${n} passed in 3 ms`
              : `line ${n}: compiling module ${n % 97}.c`,
      );
    }
    await logs.append(id, 'test', 'big', first, lines);
  }
  await logs.finish(id, 'test', 'big');
  return id;
}

test('a 1,000,000-line log is interactive within 2 s, scrolls without jank, and search finds a line in it', async () => {
  const id = await buildWithBigLog();
  const page = await b.page();
  // Long main-thread tasks while the page loads (the standard measure of jank).
  await page.addInitScript(() => {
    const g = globalThis as any;
    g.longTasks = [];
    try {
      new g.PerformanceObserver((list: any) => {
        for (const e of list.getEntries()) g.longTasks.push({ start: e.startTime, duration: e.duration });
      }).observe({ entryTypes: ['longtask'] });
    } catch {
      // no long-task timing in this browser
    }
  });
  await page.goto(`${h.url}/builds/${id}`);
  await page.waitForFunction(() => (globalThis as any).performance.getEntriesByName('bosun-log-painted:test/big').length > 0, undefined, { timeout: 60_000 });
  // Interactive: the first rows are painted and a scroll is answered with the rows at that place.
  const first = await page.evaluate(async () => {
    const g = globalThis as any;
    const painted = g.performance.getEntriesByName('bosun-log-painted:test/big')[0].startTime as number;
    const vp = g.document.querySelector('.step[data-i="0"] .viewport');
    const asked = g.performance.now();
    vp.scrollTop = Math.floor(vp.scrollHeight / 2);
    await new Promise((r) => g.requestAnimationFrame(() => g.requestAnimationFrame(r)));
    const row = Number(vp.querySelector('.ln')?.dataset.n ?? 0);
    return { painted, asked, answered: g.performance.now(), row, lines: g.bosunLog.steps[0].lines as number };
  });
  assert.ok(first.row > 1, 'the scroll moved the rows');
  await eventually(() => page.evaluate(() => (globalThis as any).bosunLog?.loaded === true), 120_000, 'the whole log to load');
  const loaded = await page.evaluate(() => ({
    at: (globalThis as any).performance.getEntriesByName('bosun-log-loaded')[0].startTime as number,
    lines: (globalThis as any).bosunLog.steps[0].lines as number,
    longest: Math.max(0, ...((globalThis as any).longTasks as { duration: number }[]).map((t) => t.duration)),
    longCount: ((globalThis as any).longTasks as unknown[]).length,
  }));
  assert.equal(loaded.lines, total, 'every line is in the viewer');

  // Scroll jank: 120 frames of scrolling through the loaded log, each frame's duration.
  const frames = await page.evaluate(async () => {
    const g = globalThis as any;
    const vp = g.document.querySelector('.step[data-i="0"] .viewport');
    vp.scrollTop = 0;
    const durations: number[] = [];
    let last = g.performance.now();
    for (let i = 0; i < 120; i++) {
      vp.scrollTop += i % 10 === 9 ? vp.scrollHeight / 13 : 400;
      await new Promise((r) => g.requestAnimationFrame(r));
      const now = g.performance.now();
      durations.push(now - last);
      last = now;
    }
    durations.sort((a, b) => a - b);
    return { p50: durations[60]!, p95: durations[114]!, max: durations[119]!, over50: durations.filter((d) => d > 50).length };
  });

  const interactive = Math.round(first.answered);
  console.log(
    `1,000,000-line log: first rows painted at ${Math.round(first.painted)} ms, interactive (a scroll answered at line ${first.row}) at ${interactive} ms after navigation (target < 2000 ms, ${first.lines} lines loaded by then); whole log loaded at ${Math.round(loaded.at)} ms; long tasks while loading: ${loaded.longCount}, longest ${Math.round(loaded.longest)} ms`,
  );
  console.log(
    `scroll frames over the loaded log: p50 ${frames.p50.toFixed(1)} ms, p95 ${frames.p95.toFixed(1)} ms, max ${frames.max.toFixed(1)} ms, ${frames.over50} of 120 over 50 ms`,
  );

  // Search the whole build for one line, then open it.
  const searchStarted = Date.now();
  await page.fill('#log-search', `needle-${needle}`);
  await page.press('#log-search', 'Enter');
  const hit = page.locator(`.step[data-i="0"] .ln.hit[data-n="${needle}"]`);
  await hit.waitFor({ timeout: 60_000 });
  const searchMs = Date.now() - searchStarted;
  assert.match((await hit.textContent()) ?? '', new RegExp(`needle-${needle} is here`));
  assert.equal(await page.textContent('#log-hits'), '1 of 1');
  console.log(`search for one line across the build: ${searchMs} ms`);
  // …and a permalink deep in the log opens there.
  const deep = await b.page();
  await deep.goto(`${h.url}/builds/${id}#test/big:L${needle + 1000}`);
  await deep.locator(`.ln.target[data-n="${needle + 1000}"]`).waitFor({ timeout: 120_000 });
});

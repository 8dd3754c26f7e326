import { stripAnsi } from './ansi.js';
import { StepLog, type StepLogHost } from './step-log.js';

/** A step as the build page describes it (`logSteps` on the server). */
interface StepInfo {
  stage: string;
  step: string;
  key: string;
  status: string;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  reason?: string;
}

interface PageData {
  build: string;
  attempt: number;
  status: string;
  steps: StepInfo[];
}

const terminal = new Set(['success', 'failed', 'failed_infra', 'cancelled', 'skipped']);
const maxHits = 100_000;

/** What the browser tests read back (`window.bosunLog`). */
interface Probe {
  steps: { key: string; lines: number; duplicates: number; gaps: number; ended: boolean }[];
  streamOpens: number;
  loaded: boolean;
  hits: number;
  /** A step's lines as shown, joined by newlines. */
  text(step: number): string;
}

/**
 * The build page's log viewer: loads each step's log (streamed, so a long log shows its first
 * screen at once), then follows every step live on one SSE connection that resumes from the
 * last line after a drop; search over one step or the whole build with next/previous;
 * permalinks `#<stage>/<step>:L<n>`; timestamps on demand.
 */
function startLogViewer(root: HTMLElement, data: PageData): void {
  const steps: StepLog[] = [];
  const info = data.steps;
  const ended = info.map(() => false);
  const probe: Probe = {
    steps: info.map((s) => ({ key: s.key, lines: 0, duplicates: 0, gaps: 0, ended: false })),
    streamOpens: 0,
    loaded: false,
    hits: 0,
    text: (i) => steps[i]?.lines.join('\n') ?? '',
  };
  (window as unknown as { bosunLog: Probe }).bosunLog = probe;
  const times: [number, number][][] = info.map(() => []);
  const timesLoaded = info.map(() => false);

  const searchBox = root.querySelector<HTMLInputElement>('#log-search')!;
  const scopeBox = root.querySelector<HTMLSelectElement>('#log-scope')!;
  const hitsLabel = root.querySelector<HTMLElement>('#log-hits')!;
  const timesBox = root.querySelector<HTMLInputElement>('#log-times')!;
  let query = '';
  let hits: { step: number; line: number }[] = [];
  let hitIndex = -1;

  const host: StepLogHost = {
    query: () => query,
    currentHit: (s) => {
      const h = hits[hitIndex];
      return h && h.step === s.index ? h.line : null;
    },
    showTimes: () => timesBox.checked,
    timeOf: (s, n) => {
      const batches = times[s.index]!;
      if (batches.length === 0) return timesLoaded[s.index] ? '–' : '…';
      let lo = 0;
      let hi = batches.length - 1;
      if (batches[0]![0] > n) return '–';
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (batches[mid]![0] <= n) lo = mid;
        else hi = mid - 1;
      }
      return new Date(batches[lo]![1]).toISOString().slice(11, 23);
    },
  };

  info.forEach((s, i) => {
    const el = root.querySelector<HTMLElement>(`.step[data-i="${i}"]`)!;
    const log = new StepLog(s.key, i, el.querySelector<HTMLElement>('.step-body')!, host);
    log.live = !terminal.has(s.status);
    steps.push(log);
    el.querySelector('.step-head')!.addEventListener('click', (e) => {
      if ((e.target as HTMLElement).closest('a')) return;
      setOpen(i, el.classList.contains('closed'));
    });
  });

  function setOpen(i: number, open: boolean): void {
    const el = root.querySelector<HTMLElement>(`.step[data-i="${i}"]`)!;
    el.classList.toggle('closed', !open);
    el.querySelector('.step-body')!.toggleAttribute('hidden', !open);
    if (open) {
      steps[i]!.schedule();
      if (timesBox.checked) void loadTimes(i);
    }
  }

  function setStatus(i: number, s: StepInfo): void {
    info[i] = s;
    const el = root.querySelector<HTMLElement>(`.step[data-i="${i}"]`)!;
    const badge = el.querySelector<HTMLElement>('.st')!;
    badge.textContent = s.status.replace('_', ' ');
    badge.className = `st ${s.status}`;
    const dur = el.querySelector<HTMLElement>('.dur')!;
    dur.textContent = duration(s);
    el.dataset.status = s.status;
    steps[i]!.live = !terminal.has(s.status);
    if (s.status === 'running' && !el.dataset.touched) setOpen(i, true);
  }

  // Load every log that exists, streamed in chunks; then follow them all live.
  async function loadAll(): Promise<void> {
    await Promise.all(info.map((s, i) => (s.status === 'pending' || s.status === 'skipped' ? Promise.resolve() : loadRaw(i))));
    probe.loaded = true;
    performance.mark('bosun-log-loaded');
    if (query) runSearch(false);
    if (!terminal.has(data.status)) follow();
    else info.forEach((_, i) => markEnded(i));
  }

  async function loadRaw(i: number): Promise<void> {
    const s = info[i]!;
    const res = await fetch(`/api/builds/${data.build}/logs/${encodeURIComponent(s.stage)}/${encodeURIComponent(s.step)}`);
    if (!res.ok || !res.body) return;
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let partial = '';
    let painted = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const parts = (partial + decoder.decode(value, { stream: true })).split('\n');
      partial = parts.pop() ?? '';
      add(i, steps[i]!.count + 1, parts);
      if (!painted && steps[i]!.count > 0) {
        painted = true;
        requestAnimationFrame(() => performance.mark(`bosun-log-painted:${s.key}`));
      }
      openTarget();
    }
    if (partial) add(i, steps[i]!.count + 1, [partial]);
    openTarget();
  }

  /** Adds lines numbered from `n`, dropping any already shown and counting any gap (there should be none). */
  function add(i: number, n: number, texts: string[]): void {
    const log = steps[i]!;
    const p = probe.steps[i]!;
    const have = log.count;
    if (n > have + 1) p.gaps += n - have - 1;
    const skip = Math.max(0, have + 1 - n);
    p.duplicates += Math.min(skip, texts.length);
    log.append(skip ? texts.slice(skip) : texts);
    p.lines = log.count;
  }

  function markEnded(i: number): void {
    ended[i] = true;
    probe.steps[i]!.ended = true;
    steps[i]!.live = false;
  }

  function cursor(): string {
    return steps.map((s, i) => `${i}:${s.count}`).join(',');
  }

  function follow(): void {
    const es = new EventSource(`/api/builds/${data.build}/log-stream?from=${cursor()}&steps=${info.length}&attempt=${data.attempt}`);
    es.addEventListener('open', () => probe.streamOpens++);
    es.addEventListener('lines', (e) => {
      const d = JSON.parse((e as MessageEvent<string>).data) as { s: number; n: number; lines: string[]; at: number };
      if (!steps[d.s]) return;
      add(d.s, d.n, d.lines);
      times[d.s]!.push([d.n, d.at]);
      if (query) extendSearch(d.s, d.n, d.lines);
      openTarget();
    });
    es.addEventListener('end', (e) => {
      const { s } = JSON.parse((e as MessageEvent<string>).data) as { s: number };
      if (steps[s]) markEnded(s);
    });
    es.addEventListener('step', (e) => {
      const d = JSON.parse((e as MessageEvent<string>).data) as StepInfo & { s: number };
      if (steps[d.s]) setStatus(d.s, d);
    });
    es.addEventListener('build', (e) => {
      const d = JSON.parse((e as MessageEvent<string>).data) as { status: string };
      const badge = document.getElementById('build-status');
      if (badge) {
        badge.textContent = d.status.replace('_', ' ');
        badge.className = `st ${d.status}`;
      }
    });
    es.addEventListener('reload', () => location.reload());
    es.addEventListener('done', () => {
      es.close();
      info.forEach((_, i) => markEnded(i));
    });
    // The server refused or went away for good (not a plain drop, which EventSource retries
    // by itself with Last-Event-ID): start again from what we have.
    es.addEventListener('error', () => {
      if (es.readyState !== EventSource.CLOSED) return;
      setTimeout(follow, 2000);
    });
  }

  // Permalinks: `#<stage>/<step>:L<n>`.
  let target: { step: number; line: number } | null = null;
  function readHash(): void {
    const m = /^#(.+):L(\d+)$/.exec(location.hash);
    if (!m) return;
    const key = decodeURI(m[1]!);
    const step = info.findIndex((s) => s.key === key);
    if (step < 0) return;
    target = { step, line: Number(m[2]) };
    openTarget();
  }
  function openTarget(): void {
    if (!target || steps[target.step]!.count < target.line) return;
    const { step, line } = target;
    target = null;
    const el = root.querySelector<HTMLElement>(`.step[data-i="${step}"]`)!;
    setOpen(step, true);
    el.scrollIntoView({ block: 'start' });
    steps[step]!.reveal(line);
  }
  window.addEventListener('hashchange', readHash);

  // Search over one step or every step; Enter / Shift+Enter and the buttons move between hits.
  function runSearch(move = true): void {
    query = searchBox.value;
    hits = [];
    hitIndex = -1;
    const q = query.toLowerCase();
    if (q) {
      const scope = scopeBox.value === '' ? steps.map((_, i) => i) : [Number(scopeBox.value)];
      for (const i of scope) {
        const lines = steps[i]!.lines;
        for (let k = 0; k < lines.length && hits.length < maxHits; k++) {
          if (stripAnsi(lines[k]!).toLowerCase().includes(q)) hits.push({ step: i, line: k + 1 });
        }
      }
    }
    probe.hits = hits.length;
    if (move && hits.length) go(0);
    else showHits();
    steps.forEach((s) => s.schedule());
  }
  function extendSearch(step: number, n: number, lines: string[]): void {
    if (scopeBox.value !== '' && Number(scopeBox.value) !== step) return;
    const q = query.toLowerCase();
    lines.forEach((l, k) => {
      if (hits.length < maxHits && stripAnsi(l).toLowerCase().includes(q)) hits.push({ step, line: n + k });
    });
    probe.hits = hits.length;
    showHits();
  }
  function showHits(): void {
    hitsLabel.textContent = query ? (hits.length ? `${hitIndex + 1} of ${hits.length}${hits.length >= maxHits ? '+' : ''}` : 'no match') : '';
  }
  function go(k: number): void {
    if (!hits.length) return;
    hitIndex = (k + hits.length) % hits.length;
    const h = hits[hitIndex]!;
    const el = root.querySelector<HTMLElement>(`.step[data-i="${h.step}"]`)!;
    setOpen(h.step, true);
    el.scrollIntoView({ block: 'nearest' });
    steps[h.step]!.reveal(h.line, false);
    steps.forEach((s) => s.schedule());
    showHits();
  }
  let debounce: ReturnType<typeof setTimeout> | undefined;
  searchBox.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter') return;
    e.preventDefault();
    clearTimeout(debounce);
    if (searchBox.value !== query) runSearch();
    else go(hitIndex + (e.shiftKey ? -1 : 1));
  });
  searchBox.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => runSearch(), 400);
  });
  scopeBox.addEventListener('change', () => runSearch());
  root.querySelector('#log-next')!.addEventListener('click', () => (searchBox.value !== query ? runSearch() : go(hitIndex + 1)));
  root.querySelector('#log-prev')!.addEventListener('click', () => (searchBox.value !== query ? runSearch() : go(hitIndex - 1)));

  // Timestamps on demand: the time each batch of lines reached Bosun.
  async function loadTimes(i: number): Promise<void> {
    if (timesLoaded[i]) return;
    timesLoaded[i] = true;
    const s = info[i]!;
    const res = await fetch(`/api/builds/${data.build}/logs/${encodeURIComponent(s.stage)}/${encodeURIComponent(s.step)}/times`);
    if (res.ok) {
      const { batches } = (await res.json()) as { batches: [number, number][] };
      const live = times[i]!.filter(([n]) => !batches.some(([m]) => m === n));
      times[i] = [...batches, ...live].sort((a, b) => a[0] - b[0]);
    }
    steps[i]!.schedule();
  }
  timesBox.addEventListener('change', () => {
    root.classList.toggle('with-times', timesBox.checked);
    info.forEach((_, i) => {
      if (timesBox.checked && !root.querySelector(`.step[data-i="${i}"]`)!.classList.contains('closed')) void loadTimes(i);
      steps[i]!.schedule();
    });
  });

  root.addEventListener('click', (e) => {
    const head = (e.target as HTMLElement).closest<HTMLElement>('.step');
    if (head) head.dataset.touched = '1';
  });
  readHash();
  void loadAll();
}

function duration(s: { startedAt?: string; finishedAt?: string }): string {
  if (!s.startedAt) return '';
  const ms = (s.finishedAt ? Date.parse(s.finishedAt) : Date.now()) - Date.parse(s.startedAt);
  if (!Number.isFinite(ms) || ms < 0) return '';
  const sec = Math.round(ms / 1000);
  return sec < 60 ? `${sec}s` : `${Math.floor(sec / 60)}m ${String(sec % 60).padStart(2, '0')}s`;
}

const root = document.getElementById('logs');
const data = document.getElementById('log-data');
if (root && data?.textContent) startLogViewer(root, JSON.parse(data.textContent) as PageData);

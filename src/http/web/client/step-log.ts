import { ansiToHtml, escapeHtml, stripAnsi } from './ansi.js';

/** Pixel height of one log row (fixed: rows never wrap, so the viewer can compute positions). */
export const rowHeight = 18;
/** Browsers cap an element's height (~33M px in Chromium): past this the scroll range is scaled. */
const maxScrollPx = 15_000_000;
const overscan = 20;

/** What a step's view needs from the page (search state, timestamps, the step's id). */
export interface StepLogHost {
  query(): string;
  /** The current search hit, if it is in this step: its line (1-based). */
  currentHit(step: StepLog): number | null;
  showTimes(): boolean;
  timeOf(step: StepLog, line: number): string;
}

/**
 * One step's log, virtualised: the lines live in an array, and only the rows in view (plus
 * an overscan) are in the DOM, so a million-line log scrolls like a short one. Sections start
 * at each `+ cmd` line and fold; line numbers link to `#<stage>/<step>:L<n>`.
 */
export class StepLog {
  readonly lines: string[] = [];
  /** Line indices (0-based) that start a section (`+ cmd`). */
  private readonly sectionStarts: number[] = [];
  /** For each line, the index into sectionStarts of its section (-1 before the first). */
  private sectionOf: Int32Array = new Int32Array(1024);
  private readonly folded = new Set<number>();
  /** Visible line indices when some section is folded; null when every line shows. */
  private rows: number[] | null = null;
  private scheduled = false;
  private targetLine = 0;
  private stickToBottom = false;
  /** The scroll scale the current scrollTop was set under (it shrinks as a huge log grows). */
  private lastScale = 1;
  readonly viewport: HTMLDivElement;
  private readonly spacer: HTMLDivElement;
  private readonly layer: HTMLDivElement;

  constructor(
    readonly key: string,
    readonly index: number,
    container: HTMLElement,
    private readonly host: StepLogHost,
  ) {
    this.viewport = document.createElement('div');
    this.viewport.className = 'viewport';
    this.spacer = document.createElement('div');
    this.spacer.className = 'spacer';
    this.layer = document.createElement('div');
    this.layer.className = 'rows';
    this.viewport.append(this.spacer, this.layer);
    container.append(this.viewport);
    this.viewport.addEventListener(
      'scroll',
      () => {
        this.stickToBottom = this.atBottom();
        this.schedule();
      },
      { passive: true },
    );
    this.layer.addEventListener('click', (e) => {
      const fold = (e.target as HTMLElement).closest('.fold');
      if (!fold) return;
      e.preventDefault();
      this.toggleSection(Number(fold.getAttribute('data-i')));
    });
  }

  get count(): number {
    return this.lines.length;
  }

  /** Appends lines (in order) and re-renders on the next frame. */
  append(texts: readonly string[]): void {
    const follow = this.stickToBottom || this.lines.length === 0;
    if (this.sectionOf.length < this.lines.length + texts.length) {
      const grown = new Int32Array(Math.max(this.sectionOf.length * 2, this.lines.length + texts.length));
      grown.set(this.sectionOf);
      this.sectionOf = grown;
    }
    for (const text of texts) {
      const i = this.lines.length;
      this.lines.push(text);
      if (text.startsWith('+ ')) this.sectionStarts.push(i);
      this.sectionOf[i] = this.sectionStarts.length - 1;
      if (this.rows) {
        const s = this.sectionOf[i]!;
        if (!(s >= 0 && this.folded.has(s) && this.sectionStarts[s] !== i)) this.rows.push(i);
      }
    }
    this.stickToBottom = follow && this.live;
    this.schedule();
  }

  /** True while the step runs: the view follows new lines when scrolled to the bottom. */
  live = false;

  /** Folds or unfolds the section starting at sectionStarts[s]. */
  toggleSection(s: number): void {
    if (this.folded.has(s)) this.folded.delete(s);
    else this.folded.add(s);
    this.rebuildRows();
    this.schedule();
  }

  isFolded(line: number): boolean {
    const s = this.sectionOf[line - 1] ?? -1;
    return s >= 0 && this.folded.has(s) && this.sectionStarts[s] !== line - 1;
  }

  get sections(): number {
    return this.sectionStarts.length;
  }

  private rebuildRows(): void {
    if (this.folded.size === 0) {
      this.rows = null;
      return;
    }
    const rows: number[] = [];
    for (let i = 0; i < this.lines.length; i++) {
      const s = this.sectionOf[i]!;
      if (s >= 0 && this.folded.has(s) && this.sectionStarts[s] !== i) continue;
      rows.push(i);
    }
    this.rows = rows;
  }

  private get rowCount(): number {
    return this.rows ? this.rows.length : this.lines.length;
  }

  private rowOfLine(line: number): number {
    if (!this.rows) return line - 1;
    let lo = 0;
    let hi = this.rows.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.rows[mid]! < line - 1) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private scale(): number {
    const total = this.rowCount * rowHeight;
    return total > maxScrollPx ? maxScrollPx / total : 1;
  }

  private atBottom(): boolean {
    const v = this.viewport;
    return v.scrollTop + v.clientHeight >= v.scrollHeight - rowHeight * 2;
  }

  /** Shows line `n` (1-based): unfolds its section, scrolls it to a third of the view, marks it. */
  reveal(n: number, mark = true): void {
    if (this.isFolded(n)) this.toggleSection(this.sectionOf[n - 1]!);
    if (mark) this.targetLine = n;
    this.stickToBottom = false;
    this.layout();
    this.lastScale = this.scale();
    const y = this.rowOfLine(n) * rowHeight * this.lastScale - this.viewport.clientHeight / 3;
    this.viewport.scrollTop = Math.max(0, y);
    this.render();
  }

  scrollToEnd(): void {
    this.layout();
    this.viewport.scrollTop = this.viewport.scrollHeight;
    this.stickToBottom = true;
    this.schedule();
  }

  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.render();
    });
  }

  private layout(): void {
    const rows = this.rowCount;
    const height = Math.min(rows * rowHeight * this.scale(), maxScrollPx);
    this.spacer.style.height = `${height + 8}px`;
    this.viewport.style.height = `${Math.min(Math.max(rows, 1) * rowHeight + 26, Math.round(window.innerHeight * 0.7))}px`;
  }

  /** Draws the rows in view. Cheap enough to run on every scroll frame. */
  render(): void {
    if (this.viewport.offsetParent === null) return; // folded away: drawn when shown
    const before = this.viewport.scrollTop;
    this.layout();
    const scale = this.scale();
    if (this.stickToBottom) this.viewport.scrollTop = this.viewport.scrollHeight;
    else if (scale !== this.lastScale) this.viewport.scrollTop = (before / this.lastScale) * scale; // keep the same lines in view
    this.lastScale = scale;
    const top = this.viewport.scrollTop;
    const virtualTop = top / scale;
    const rows = this.rowCount;
    const first = Math.max(0, Math.floor(virtualTop / rowHeight) - overscan);
    const last = Math.min(rows, Math.ceil((virtualTop + this.viewport.clientHeight) / rowHeight) + overscan);
    this.layer.style.transform = `translateY(${Math.round(top + (first * rowHeight - virtualTop))}px)`;
    const q = this.host.query().toLowerCase();
    const hit = this.host.currentHit(this);
    const times = this.host.showTimes();
    let html = '';
    for (let r = first; r < last; r++) {
      const i = this.rows ? this.rows[r]! : r;
      html += this.rowHtml(i, q, hit, times);
    }
    this.layer.innerHTML = html;
  }

  private rowHtml(i: number, q: string, hit: number | null, times: boolean): string {
    const n = i + 1;
    const text = this.lines[i]!;
    const s = this.sectionOf[i]!;
    const head = s >= 0 && this.sectionStarts[s] === i;
    const marks = q ? findAll(stripAnsi(text).toLowerCase(), q) : [];
    const current = hit === n ? 0 : -1;
    const classes = ['ln'];
    if (head) classes.push('cmd');
    if (n === this.targetLine) classes.push('target');
    if (hit === n) classes.push('hit');
    const href = `#${encodeURI(this.key)}:L${n}`;
    const fold = head
      ? `<span class="fold" data-i="${s}" title="fold or unfold this command's output">${this.folded.has(s) ? '▸' : '▾'}</span>`
      : '<span class="fold-pad"></span>';
    const ts = times ? `<span class="ts">${escapeHtml(this.host.timeOf(this, n))}</span>` : '';
    return `<div class="${classes.join(' ')}" data-n="${n}"><a class="num" href="${escapeHtml(href)}" id="${escapeHtml(`${this.key}:L${n}`)}">${n}</a>${fold}${ts}<span class="tx">${ansiToHtml(text, marks, current)}</span></div>`;
  }
}

/** Every `[start, end)` of `needle` in `haystack` (both lower-cased by the caller). */
export function findAll(haystack: string, needle: string): [number, number][] {
  const out: [number, number][] = [];
  if (!needle) return out;
  for (let i = haystack.indexOf(needle); i >= 0 && out.length < 100; i = haystack.indexOf(needle, i + needle.length)) out.push([i, i + needle.length]);
  return out;
}

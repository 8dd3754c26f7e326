/**
 * ANSI SGR (colour, bold, italic, underline) to HTML for the log viewer. The line's text is
 * always HTML-escaped and wrapped in spans whose classes and inline colours come only from
 * the parsed numbers, so a log can never inject markup. Other escape sequences (cursor
 * moves, OSC titles and links) are dropped. Pure (no DOM): the server's tests run it too.
 */

interface Style {
  fg?: string;
  bg?: string;
  bold?: boolean;
  dim?: boolean;
  italic?: boolean;
  underline?: boolean;
  inverse?: boolean;
}

// CSI … final byte, OSC … BEL/ST, and lone two-byte escapes (ESC is \u001b, BEL \u0007).
const ESC = String.fromCharCode(27);
const escapes = new RegExp(
  `${ESC}\\[[0-?]*[ -/]*[@-~]|${ESC}\\][^${String.fromCharCode(7)}${ESC}]*(?:${String.fromCharCode(7)}|${ESC}\\\\)?|${ESC}[@-Z\\\\-_]?`,
  'g',
);
const sgrPattern = new RegExp(`^${ESC}\\[([0-9;:]*)m$`);

const htmlEscapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => htmlEscapes[c] ?? c);
}

/** The text a person sees: escape sequences removed. */
export function stripAnsi(line: string): string {
  return line.includes(ESC) ? line.replace(escapes, '') : line;
}

/**
 * The line as safe HTML. `marks` are `[start, end)` ranges in the stripped text to wrap in
 * `<mark>` (search hits); `current` is the index of the mark to flag as the current hit.
 */
export function ansiToHtml(line: string, marks: readonly (readonly [number, number])[] = [], current = -1): string {
  const segments = split(line);
  let out = '';
  let pos = 0;
  for (const seg of segments) {
    const open = styleSpan(seg.style);
    out += open ? `<span ${open}>` : '';
    out += markText(seg.text, pos, marks, current);
    out += open ? '</span>' : '';
    pos += seg.text.length;
  }
  return out;
}

function markText(text: string, offset: number, marks: readonly (readonly [number, number])[], current: number): string {
  if (marks.length === 0) return escapeHtml(text);
  let out = '';
  let i = 0;
  const end = offset + text.length;
  for (let m = 0; m < marks.length; m++) {
    const [a, b] = marks[m]!;
    if (b <= offset || a >= end) continue;
    const from = Math.max(a, offset) - offset;
    const to = Math.min(b, end) - offset;
    out += escapeHtml(text.slice(i, from));
    out += `<mark${m === current ? ' class="cur"' : ''}>${escapeHtml(text.slice(from, to))}</mark>`;
    i = to;
  }
  return out + escapeHtml(text.slice(i));
}

function split(line: string): { text: string; style: Style }[] {
  if (!line.includes(ESC)) return [{ text: line, style: {} }];
  const out: { text: string; style: Style }[] = [];
  let style: Style = {};
  let last = 0;
  escapes.lastIndex = 0;
  for (let m = escapes.exec(line); m; m = escapes.exec(line)) {
    if (m.index > last) out.push({ text: line.slice(last, m.index), style });
    last = m.index + m[0].length;
    const sgr = sgrPattern.exec(m[0]);
    if (sgr) style = apply(style, sgr[1]!);
  }
  if (last < line.length) out.push({ text: line.slice(last), style });
  return out;
}

function apply(prev: Style, params: string): Style {
  const s: Style = { ...prev };
  const codes = params === '' ? [0] : params.split(/[;:]/).map((p) => (p === '' ? 0 : Number(p)));
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i]!;
    if (c === 0) for (const k of Object.keys(s)) delete s[k as keyof Style];
    else if (c === 1) s.bold = true;
    else if (c === 2) s.dim = true;
    else if (c === 3) s.italic = true;
    else if (c === 4) s.underline = true;
    else if (c === 7) s.inverse = true;
    else if (c === 22) {
      delete s.bold;
      delete s.dim;
    } else if (c === 23) delete s.italic;
    else if (c === 24) delete s.underline;
    else if (c === 27) delete s.inverse;
    else if (c >= 30 && c <= 37) s.fg = `c${c - 30}`;
    else if (c >= 90 && c <= 97) s.fg = `c${c - 90 + 8}`;
    else if (c === 39) delete s.fg;
    else if (c >= 40 && c <= 47) s.bg = `c${c - 40}`;
    else if (c >= 100 && c <= 107) s.bg = `c${c - 100 + 8}`;
    else if (c === 49) delete s.bg;
    else if (c === 38 || c === 48) {
      const colour = extended(codes, i);
      i = colour.next;
      if (colour.value) s[c === 38 ? 'fg' : 'bg'] = colour.value;
    }
  }
  return s;
}

/** `38;5;n` (256 colours) or `38;2;r;g;b` (true colour); `value` is a class (`c12`) or `#rrggbb`. */
function extended(codes: number[], i: number): { value?: string; next: number } {
  if (codes[i + 1] === 5) {
    const n = codes[i + 2] ?? -1;
    if (n < 0 || n > 255) return { next: i + 2 };
    return { value: n < 16 ? `c${n}` : hex(xterm256(n)), next: i + 2 };
  }
  if (codes[i + 1] === 2) {
    const rgb = [codes[i + 2], codes[i + 3], codes[i + 4]];
    if (rgb.some((x) => x === undefined || x < 0 || x > 255)) return { next: i + 4 };
    return { value: hex(rgb as [number, number, number]), next: i + 4 };
  }
  return { next: i };
}

function xterm256(n: number): [number, number, number] {
  if (n >= 232) {
    const v = 8 + (n - 232) * 10;
    return [v, v, v];
  }
  const k = n - 16;
  const level = (x: number) => (x === 0 ? 0 : 55 + x * 40);
  return [level(Math.floor(k / 36)), level(Math.floor(k / 6) % 6), level(k % 6)];
}

function hex(rgb: [number, number, number]): string {
  return `#${rgb.map((x) => x.toString(16).padStart(2, '0')).join('')}`;
}

/** The span's attributes: classes for the 16 palette colours and styles, inline colour for the rest. */
function styleSpan(s: Style): string {
  let fg = s.fg;
  let bg = s.bg;
  if (s.inverse) [fg, bg] = [bg ?? 'c-bg', fg ?? 'c-fg'];
  const classes: string[] = [];
  const inline: string[] = [];
  if (fg?.startsWith('#')) inline.push(`color:${fg}`);
  else if (fg) classes.push(`f${fg}`);
  if (bg?.startsWith('#')) inline.push(`background:${bg}`);
  else if (bg) classes.push(`b${bg}`);
  if (s.bold) classes.push('ab');
  if (s.dim) classes.push('ad');
  if (s.italic) classes.push('ai');
  if (s.underline) classes.push('au');
  if (classes.length === 0 && inline.length === 0) return '';
  return [classes.length ? `class="${classes.join(' ')}"` : '', inline.length ? `style="${inline.join(';')}"` : ''].filter(Boolean).join(' ');
}

/**
 * Workspace-relative globs as `artifacts:` and `reports:` write them: segments split on `/`;
 * `*` matches any run of characters within a segment, `?` one character, a segment `**` any
 * number of segments (none included); a glob naming a directory keeps everything under it.
 * Everything else is literal. A file name starting with
 * `.` is matched like any other. `.git` at the top is never matched (Bosun's own marker lives there).
 */
export class GlobSet {
  readonly #globs: Segment[][];

  constructor(globs: readonly string[]) {
    this.#globs = globs.map((g) =>
      g
        .split('/')
        .filter((s) => s !== '' && s !== '.')
        .map(compileSegment),
    );
  }

  /**
   * True when the file at `path` (`dist/app.whl`) matches one of the globs, or lies under a
   * directory one matches (`dist` keeps all of `dist/`).
   */
  matches(path: string): boolean {
    const parts = splitPath(path);
    if (parts[0] === '.git') return false;
    for (let k = 1; k <= parts.length; k += 1) {
      const head = parts.slice(0, k);
      if (this.#globs.some((g) => matchFrom(g, 0, head, 0, false))) return true;
    }
    return false;
  }

  /** True when a file under the directory `dir` could match (so the directory is worth walking). */
  mayContain(dir: string): boolean {
    const parts = splitPath(dir);
    if (parts.length === 0) return true;
    if (parts[0] === '.git') return false;
    return this.#globs.some((g) => matchFrom(g, 0, parts, 0, true)) || this.matches(dir);
  }
}

type Segment = '**' | RegExp;

function compileSegment(segment: string): Segment {
  if (segment === '**') return '**';
  const body = segment
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '[^/]*')
    .replace(/\?/g, '[^/]');
  return new RegExp(`^${body}$`);
}

function splitPath(path: string): string[] {
  return path.split('/').filter((s) => s !== '' && s !== '.');
}

/** Matches `glob[gi…]` against `parts[pi…]`; `prefix`: `parts` is a directory, true when a file under it could match. */
function matchFrom(glob: Segment[], gi: number, parts: string[], pi: number, prefix: boolean): boolean {
  for (;;) {
    if (pi === parts.length) {
      // A directory: anything more in the glob may match beneath it. A file: the glob must be done
      // (or only `**` left, which also matches nothing).
      return prefix ? gi < glob.length : glob.slice(gi).every((s) => s === '**');
    }
    if (gi === glob.length) return false;
    const segment = glob[gi]!;
    if (segment === '**') {
      // Zero segments, or one more and stay on `**`.
      return matchFrom(glob, gi + 1, parts, pi, prefix) || matchFrom(glob, gi, parts, pi + 1, prefix);
    }
    if (!segment.test(parts[pi]!)) return false;
    gi += 1;
    pi += 1;
  }
}

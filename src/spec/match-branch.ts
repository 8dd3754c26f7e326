/**
 * Branch globs in `on.branches`: `*` matches within one path segment (`feature/*` matches
 * `feature/login` but not `feature/a/b`), `**` matches across segments, everything else is literal.
 */
export function matchBranch(pattern: string, branch: string): boolean {
  return globToRegExp(pattern).test(branch);
}

function globToRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] ?? '';
    if (ch === '*' && pattern[i + 1] === '*') {
      source += '.*';
      i++;
    } else if (ch === '*') {
      source += '[^/]*';
    } else {
      source += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`);
}

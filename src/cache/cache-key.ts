import { createHash } from 'node:crypto';
import { UserError } from '../errors.js';
import { git } from '../git/git.js';

/**
 * Cache keys: a stage's `cache.key` template rendered for one build, and the checks every key
 * (and restore-key prefix) passes before it names a file in the cache store.
 *
 * A template is literal text plus `{{ hashFiles('glob', …) }}` expressions. `hashFiles` is
 * evaluated by Bosun against the build's commit (git's tree of `sha`, never the files a step may
 * have changed): the files of the commit matching any glob, sorted by path, hashed as
 * `path NUL blob-id LF` with SHA-256 (first 32 hex digits). Globs are relative to the repository
 * root (`*`, `?` within a path segment, `**` across segments); `..` and absolute paths are refused.
 * No file matching gives the hash of nothing, with a note saying so.
 */

/** A file in the build's commit: its path and its git blob id. */
export interface CommitFile {
  path: string;
  blob: string;
}

/** The files of the build's commit (narrow: tests give a list). */
export interface CommitFiles {
  list(): Promise<CommitFile[]>;
}

const KEY_PATTERN = /^[A-Za-z0-9._+-]{1,200}$/;
export const maxKeyLength = 200;
const expression = /\{\{\s*hashFiles\(([^)]*)\)\s*\}\}/g;
const argument = /'([^'\\]+)'/g;

/** Throws a `UserError` saying why `key` cannot name a cache; `what` names it in the message. */
export function checkCacheKey(key: string, what = 'cache key'): void {
  if (key.length === 0) throw new UserError('spec_invalid', `${what} is empty`);
  if (key.length > maxKeyLength) throw new UserError('spec_invalid', `${what} ${key.slice(0, 40)}… is ${key.length} characters long; at most ${maxKeyLength}`);
  if (key.includes('/') || key.includes('\\'))
    throw new UserError('spec_invalid', `${what} ${key} contains a slash; keys are one name (letters, digits, \`._+-\`)`);
  if (key.includes('..')) throw new UserError('spec_invalid', `${what} ${key} contains \`..\``);
  if (!KEY_PATTERN.test(key)) throw new UserError('spec_invalid', `${what} ${key} has characters other than letters, digits and \`._+-\``);
}

/** The key for this build: `template` with every `hashFiles(…)` evaluated; notes say what matched nothing. */
export async function renderCacheKey(template: string, files: CommitFiles): Promise<{ key: string; notes: string[] }> {
  const notes: string[] = [];
  let listed: CommitFile[] | undefined;
  const parts: string[] = [];
  let last = 0;
  for (const match of template.matchAll(expression)) {
    parts.push(template.slice(last, match.index));
    last = match.index + match[0].length;
    const globs = [...(match[1] ?? '').matchAll(argument)].map((m) => m[1] ?? '');
    if (globs.length === 0) throw new UserError('spec_invalid', `cache key ${template}: hashFiles() needs at least one quoted path or glob`);
    listed ??= await files.list();
    const { hash, count } = hashFiles(listed, globs);
    if (count === 0) notes.push(`bosun: cache: hashFiles(${globs.map((g) => `'${g}'`).join(', ')}) matched no file in the commit`);
    parts.push(hash);
  }
  parts.push(template.slice(last));
  const key = parts.join('');
  if (key.includes('{{') || key.includes('}}'))
    throw new UserError('spec_invalid', `cache key ${template}: only {{ hashFiles('…') }} expressions are supported`);
  checkCacheKey(key);
  return { key, notes };
}

/** The hash of the files matching any of `globs` (see the module comment), and how many matched. */
export function hashFiles(files: readonly CommitFile[], globs: readonly string[]): { hash: string; count: number } {
  const patterns = globs.map((g) => globToRegExp(g));
  const matched = files.filter((f) => patterns.some((p) => p.test(f.path))).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const hash = createHash('sha256');
  for (const f of matched) hash.update(`${f.path}\0${f.blob}\n`);
  return { hash: hash.digest('hex').slice(0, 32), count: matched.length };
}

/** A glob relative to the repository root as an anchored RegExp; refuses globs leaving it. */
export function globToRegExp(glob: string): RegExp {
  if (glob.startsWith('/') || glob.startsWith('~')) throw new UserError('spec_invalid', `hashFiles('${glob}'): paths are relative to the repository root`);
  if (glob.split('/').includes('..')) throw new UserError('spec_invalid', `hashFiles('${glob}'): \`..\` would leave the repository`);
  const path = glob.replace(/^\.\//, '');
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    if (c === '*' && path[i + 1] === '*') {
      const slash = path[i + 2] === '/';
      out += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

/** The files of commit `sha` in the checkout `workspace`, from git's tree (not the working files). */
export function gitCommitFiles(workspace: string, sha: string): CommitFiles {
  return {
    async list() {
      const out = await git(['-C', workspace, 'ls-tree', '-r', '-z', '--full-tree', sha]);
      const files: CommitFile[] = [];
      for (const record of out.split('\0')) {
        const tab = record.indexOf('\t');
        if (tab < 0) continue;
        const [, type, blob] = record.slice(0, tab).split(' ');
        if (type === 'blob' && blob) files.push({ path: record.slice(tab + 1), blob });
      }
      return files;
    },
  };
}

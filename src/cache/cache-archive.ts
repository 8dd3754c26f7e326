import { posix } from 'node:path';
import { extract, type Headers, type Pack } from 'tar-stream';
import { UserError } from '../errors.js';

/**
 * The tar archives caches are kept as: entries named relative to the workspace root
 * (`.cache/pip/http/…`), owned by the step user, checked entry by entry on the way in (save)
 * and again on the way out (restore):
 * - every name is inside one of the cache's paths (or is a directory above one);
 * - only regular files, directories, symlinks and hard links; no devices, FIFOs or the like;
 * - a symlink's target is relative and stays inside the workspace (a cache never carries a
 *   link to `/etc/passwd` or `../../x`); a hard link's target is inside the cache's paths;
 * - setuid, setgid and sticky bits are dropped; owner and group become the step user;
 * - the total size is capped.
 * A violation refuses the whole archive with `CacheArchiveError` naming the entry.
 */
export class CacheArchiveError extends UserError {
  constructor(message: string) {
    super('bad_request', message);
  }
}

/** The owner every entry gets (the step user in containers, Bosun's user for `local`). */
export interface EntryOwner {
  uid: number;
  gid: number;
}

export interface CopyOptions {
  /** The cache's paths, relative to the workspace, without trailing slashes. */
  paths: readonly string[];
  /** Prefix for the source's names (`.cache` for docker's `pip/…` entries of `.cache/pip`); '' for none. */
  prefix: string;
  owner: EntryOwner;
  /** Bytes the copy may still add (regular files' sizes); exceeding it refuses the archive. */
  budget: { left: number; limit: number };
}

const allowedTypes = new Set(['file', 'directory', 'symlink', 'link']);

/** Why entry `header` (its name already workspace-relative) cannot be in a cache of `paths`; undefined when it can. */
export function entryProblem(header: Pick<Headers, 'name' | 'type' | 'linkname'>, paths: readonly string[]): string | undefined {
  const name = normalizeName(header.name);
  if (name === undefined) return `${header.name} is not a path inside the workspace`;
  const type = header.type ?? 'file';
  if (!allowedTypes.has(type)) return `${name} is a ${type}; caches hold only files, directories and links`;
  const inside = paths.some((p) => name === p || name.startsWith(`${p}/`));
  const above = type === 'directory' && paths.some((p) => p.startsWith(`${name}/`));
  if (!inside && !above) return `${name} is outside the cache's paths (${paths.join(', ')})`;
  if (type === 'symlink') {
    const target = header.linkname ?? '';
    if (target.startsWith('/')) return `${name} is a symlink to ${target}, outside the workspace`;
    const resolved = posix.normalize(posix.join(posix.dirname(name), target));
    if (resolved === '..' || resolved.startsWith('../')) return `${name} is a symlink to ${target}, outside the workspace`;
  }
  if (type === 'link') {
    const target = normalizeName(header.linkname ?? '');
    if (target === undefined || !paths.some((p) => target === p || target.startsWith(`${p}/`)))
      return `${name} is a hard link to ${header.linkname}, outside the cache's paths`;
  }
  return undefined;
}

/** `a/b/` → `a/b`; undefined for absolute names, `..` components or the root itself. */
export function normalizeName(name: string): string | undefined {
  if (name.startsWith('/')) return undefined;
  const normalized = posix.normalize(name).replace(/\/+$/, '');
  if (normalized === '' || normalized === '.' || normalized === '..' || normalized.startsWith('../')) return undefined;
  return normalized;
}

/**
 * Copies every entry of the tar stream `source` into `pack`, renamed under `opts.prefix`,
 * checked (`entryProblem`), owned by `opts.owner`, special mode bits dropped. Rejects with
 * `CacheArchiveError` on the first bad entry or once the budget is spent.
 */
export function copyEntries(source: NodeJS.ReadableStream, pack: Pack, opts: CopyOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const reader = extract();
    let failed = false;
    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      reader.destroy();
      reject(err);
    };
    reader.on('entry', (header, stream, next) => {
      try {
        const mapped = mapHeader(header, opts);
        const body = pack.entry(mapped, (err) => (err ? fail(err) : next()));
        if (mapped.type === 'file' || mapped.type === undefined) stream.pipe(body);
        else stream.resume();
      } catch (err) {
        stream.resume();
        fail(err);
      }
    });
    reader.on('finish', () => failed || resolve());
    reader.on('error', (err) => fail(err));
    source.on('error', (err: unknown) => fail(err));
    source.pipe(reader);
  });
}

/**
 * Reads the whole tar stream `source` and checks every entry (`entryProblem`, the budget) without
 * writing anything: a restore checks the archive first, so a bad entry late in it never leaves a
 * partial restore behind.
 */
export function checkEntries(source: NodeJS.ReadableStream, paths: readonly string[], limit: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const reader = extract();
    let left = limit;
    let failed = false;
    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      reader.destroy();
      reject(err);
    };
    reader.on('entry', (header, stream, next) => {
      stream.resume();
      const problem = entryProblem(header, paths);
      left -= header.type === 'file' || !header.type ? (header.size ?? 0) : 0;
      if (problem) return fail(new CacheArchiveError(`cache refused: ${problem}`));
      if (left < 0) return fail(new CacheArchiveError(`cache refused: more than ${formatBytes(limit)} (the repository's cache size limit)`));
      stream.on('end', () => next());
    });
    reader.on('finish', () => failed || resolve());
    reader.on('error', (err) => fail(err));
    source.on('error', (err: unknown) => fail(err));
    source.pipe(reader);
  });
}

function mapHeader(header: Headers, opts: CopyOptions): Headers {
  const name = opts.prefix ? posix.join(opts.prefix, header.name) : header.name;
  const linkname = header.type === 'link' && header.linkname && opts.prefix ? posix.join(opts.prefix, header.linkname) : header.linkname;
  const mapped: Headers = { ...header, name, uid: opts.owner.uid, gid: opts.owner.gid, mode: (header.mode ?? 0o644) & 0o777 };
  if (linkname !== undefined) mapped.linkname = linkname;
  delete mapped.uname;
  delete mapped.gname;
  // Pax records would repeat the source's path (overriding the new name) and carry xattrs
  // (file capabilities among them): none are kept; long names get a fresh pax path on packing.
  delete (mapped as { pax?: unknown }).pax;
  const problem = entryProblem(mapped, opts.paths);
  if (problem) throw new CacheArchiveError(`cache refused: ${problem}`);
  mapped.name = normalizeName(mapped.name) ?? mapped.name;
  if (mapped.type === 'directory') mapped.name += '/';
  if (mapped.type === 'file' || mapped.type === undefined) {
    opts.budget.left -= header.size ?? 0;
    if (opts.budget.left < 0) throw new CacheArchiveError(`cache refused: more than ${formatBytes(opts.budget.limit)} (the repository's cache size limit)`);
  }
  return mapped;
}

/** Directory entries for every directory above each path (`.cache` for `.cache/pip`), so extraction never makes them root's. */
export function addParentDirectories(pack: Pack, paths: readonly string[], owner: EntryOwner): Promise<void> {
  const dirs = new Set<string>();
  for (const p of paths) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  return [...dirs].sort().reduce(
    (prev, dir) =>
      prev.then(
        () =>
          new Promise<void>((resolve, reject) => {
            pack.entry({ name: `${dir}/`, type: 'directory', mode: 0o755, uid: owner.uid, gid: owner.gid, mtime: new Date() }, (err) =>
              err ? reject(err) : resolve(),
            );
          }),
      ),
    Promise.resolve(),
  );
}

export function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${n} B`;
}

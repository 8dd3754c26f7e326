import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { checkCacheKey } from './cache-key.js';

/**
 * The cache store on this host's data directory: one tar archive per (repository, namespace,
 * key), `<root>/<repo>/<trust>/<scope>/<key>.tar` (namespaces: see `cacheScope`; the repository
 * directory is its name made safe plus a hash, so two repositories never share one).
 *
 * - Save writes `<root>/<repo>/.tmp/<uuid>.tar` and renames it into place (atomic on one file
 *   system): a reader sees a whole archive or none. Two saves of one key: the later rename wins.
 * - Restore opens the archive and touches its mtime: mtime is "last used", which LRU eviction
 *   and restore-key lookups ("the most recently used match") read.
 * - Size cap per repository: after each save, the least recently used archives of the
 *   repository are deleted until the total is at most `maxRepoBytes`. An archive larger than the
 *   cap on its own is never kept (the save is refused while it is written).
 * - Keys are checked (`checkCacheKey`) before they name a file; namespaces come from `cacheScope`.
 *
 * Concurrency: any number of readers and writers in any processes on this host; a reader that
 * opened an archive keeps reading it even if eviction deletes it meanwhile (POSIX unlink).
 */
export interface CacheHit {
  /** `exact`: the key itself; `partial`: the newest match of a restore-key prefix. */
  kind: 'exact' | 'partial';
  key: string;
  namespace: string;
  file: string;
  bytes: number;
  /** The restore-key prefix that matched (partial hits). */
  prefix?: string;
}

export class CacheStore {
  readonly root: string;
  readonly maxRepoBytes: number;

  constructor(root: string, maxRepoBytes: number) {
    this.root = root;
    this.maxRepoBytes = maxRepoBytes;
  }

  /** The archive to restore: `key` in the first namespace that has it, else each prefix's newest match (namespaces in order). */
  async find(repo: string, namespaces: readonly string[], key: string, prefixes: readonly string[]): Promise<CacheHit | undefined> {
    checkCacheKey(key);
    for (const namespace of namespaces) {
      const file = this.#file(repo, namespace, key);
      const found = await stat(file).catch(() => undefined);
      if (found?.isFile()) return { kind: 'exact', key, namespace, file, bytes: found.size };
    }
    for (const prefix of prefixes) {
      checkCacheKey(prefix, 'restore key');
      for (const namespace of namespaces) {
        const dir = this.#dir(repo, namespace);
        let best: CacheHit | undefined;
        let bestTime = -1;
        for (const name of await readdir(dir).catch(() => [] as string[])) {
          if (!name.endsWith('.tar') || !name.startsWith(prefix)) continue;
          const file = join(dir, name);
          const found = await stat(file).catch(() => undefined);
          if (!found?.isFile() || found.mtimeMs <= bestTime) continue;
          bestTime = found.mtimeMs;
          best = { kind: 'partial', key: name.slice(0, -'.tar'.length), namespace, file, bytes: found.size, prefix };
        }
        if (best) return best;
      }
    }
    return undefined;
  }

  /** Whether `key` exists in `namespace` (a save is skipped when it does). */
  async has(repo: string, namespace: string, key: string): Promise<boolean> {
    checkCacheKey(key);
    return (await stat(this.#file(repo, namespace, key)).catch(() => undefined))?.isFile() === true;
  }

  /** The archive's bytes; marks it used now. */
  async open(hit: CacheHit): Promise<NodeJS.ReadableStream> {
    const stream = createReadStream(hit.file);
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', reject);
    });
    const now = new Date();
    await utimes(hit.file, now, now).catch(() => undefined);
    return stream;
  }

  /**
   * Writes `archive` as `key` in `namespace` (temp file, then rename), then evicts. Returns the
   * archive's size and the keys evicted. If `archive` fails, nothing is kept and the error is thrown.
   */
  async save(repo: string, namespace: string, key: string, archive: NodeJS.ReadableStream): Promise<{ bytes: number; evicted: string[] }> {
    checkCacheKey(key);
    const repoDir = this.repoDir(repo);
    const tmp = join(repoDir, '.tmp', `${randomUUID()}.tar`);
    await mkdir(join(repoDir, '.tmp'), { recursive: true });
    try {
      await pipeline(archive, createWriteStream(tmp, { flags: 'wx', mode: 0o600 }));
      const { size } = await stat(tmp);
      const dir = this.#dir(repo, namespace);
      await mkdir(dir, { recursive: true });
      await rename(tmp, join(dir, `${key}.tar`));
      return { bytes: size, evicted: await this.evict(repo) };
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /** Deletes the repository's least recently used archives until it holds at most `maxRepoBytes`; returns `<namespace>/<key>` of each. */
  async evict(repo: string): Promise<string[]> {
    const repoDir = this.repoDir(repo);
    const archives: { file: string; label: string; bytes: number; used: number }[] = [];
    for (const trust of await readdir(repoDir).catch(() => [] as string[])) {
      if (trust === '.tmp') continue;
      for (const scope of await readdir(join(repoDir, trust)).catch(() => [] as string[])) {
        const dir = join(repoDir, trust, scope);
        for (const name of await readdir(dir).catch(() => [] as string[])) {
          if (!name.endsWith('.tar')) continue;
          const found = await stat(join(dir, name)).catch(() => undefined);
          if (found?.isFile())
            archives.push({ file: join(dir, name), label: `${trust}/${scope}/${name.slice(0, -4)}`, bytes: found.size, used: found.mtimeMs });
        }
      }
    }
    let total = archives.reduce((sum, a) => sum + a.bytes, 0);
    const evicted: string[] = [];
    for (const a of archives.sort((x, y) => x.used - y.used)) {
      if (total <= this.maxRepoBytes) break;
      await rm(a.file, { force: true });
      total -= a.bytes;
      evicted.push(a.label);
    }
    return evicted;
  }

  /** The repository's directory: its name made safe, plus a hash of it. */
  repoDir(repo: string): string {
    const readable = repo
      .replace(/[^A-Za-z0-9._-]/g, '_')
      .replace(/^\.+/, '_')
      .slice(0, 60);
    return join(this.root, `${readable}-${createHash('sha256').update(repo).digest('hex').slice(0, 8)}`);
  }

  #dir(repo: string, namespace: string): string {
    const [trust, scope, ...rest] = namespace.split('/');
    if (!trust || !scope || rest.length || !/^(?:trusted|untrusted)$/.test(trust) || !/^[A-Za-z0-9._-]+$/.test(scope) || scope.startsWith('.')) {
      throw new Error(`not a cache namespace: ${namespace}`);
    }
    return join(this.repoDir(repo), trust, scope);
  }

  #file(repo: string, namespace: string, key: string): string {
    return join(this.#dir(repo, namespace), `${key}.tar`);
  }
}

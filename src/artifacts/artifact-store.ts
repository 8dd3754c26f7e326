import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CodedError } from '../errors.js';

/**
 * Where a build's kept files (`artifacts:`) live, behind one small interface. The embedded
 * implementation is `DataDirArtifactStore`; there is no other yet (server config accepts no
 * other kind). Paths are workspace-relative POSIX paths checked by `checkArtifactPath`.
 *
 * Contract:
 * - `put` stores the stream as the build's `path` (replacing an earlier copy), hashing it as it
 *   goes; over `maxBytes` it stores nothing and rejects with `ArtifactTooLargeError`.
 *   Readers never see a half-written file.
 * - `open` gives the stored file, or undefined when the build has no such file.
 * - `removeBuild` deletes the build's files (idempotent); `builds` lists stored builds with when
 *   their files were last written (retention).
 */
export interface ArtifactStore {
  put(repo: string, buildId: string, path: string, content: Readable, maxBytes: number): Promise<{ size: number; sha256: string }>;
  open(repo: string, buildId: string, path: string): Promise<{ stream: Readable; size: number } | undefined>;
  removeBuild(repo: string, buildId: string): Promise<void>;
  builds(): Promise<StoredBuild[]>;
}

export interface StoredBuild {
  repo: string;
  buildId: string;
  /** When its newest file was written. */
  storedAt: Date;
}

export class ArtifactTooLargeError extends CodedError {
  constructor(path: string, maxBytes: number) {
    super('bad_request', `${path} is larger than ${formatBytes(maxBytes)}`, false);
  }
}

/** A path as the store accepts it: relative, `/`-separated, no empty, `.` or `..` segments. */
export function checkArtifactPath(path: string): string | undefined {
  if (path.length === 0 || path.length > 1024 || path.startsWith('/') || path.includes('\0') || path.includes('\\')) return undefined;
  const parts = path.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) return undefined;
  return parts.join('/');
}

/**
 * Writes `content` to a new file `temp` (never an existing one), hashing it as it goes; over
 * `maxBytes` it stops with `ArtifactTooLargeError` (the caller removes `temp`). Both stores
 * spool through this: the data directory renames the file into place, S3 uploads it.
 */
export async function writeHashed(content: Readable, temp: string, path: string, maxBytes: number, mode: number): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > maxBytes) {
        done(new ArtifactTooLargeError(path, maxBytes));
        return;
      }
      hash.update(chunk);
      done(null, chunk);
    },
  });
  await pipeline(content, meter, createWriteStream(temp, { flags: 'wx', mode }));
  return { size, sha256: hash.digest('hex') };
}

/**
 * Files under `<dataDir>/artifacts/<repo>/<buildId>/<path>` (repo and build id URI-encoded so
 * `acme/api` is one directory). Written to a temporary name beside the target, then renamed.
 * Reads refuse anything that is not a regular file (a symlink included).
 */
export class DataDirArtifactStore implements ArtifactStore {
  readonly root: string;

  constructor(dataDir: string) {
    this.root = join(dataDir, 'artifacts');
  }

  async put(repo: string, buildId: string, path: string, content: Readable, maxBytes: number): Promise<{ size: number; sha256: string }> {
    const target = this.#file(repo, buildId, path);
    await mkdir(dirname(target), { recursive: true });
    const temp = join(dirname(target), `.tmp-${randomUUID()}`);
    try {
      const written = await writeHashed(content, temp, path, maxBytes, 0o644);
      await rename(temp, target);
      return written;
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  async open(repo: string, buildId: string, path: string): Promise<{ stream: Readable; size: number } | undefined> {
    if (!checkArtifactPath(path)) return undefined;
    const file = this.#file(repo, buildId, path);
    const info = await lstat(file).catch(() => undefined);
    if (!info?.isFile()) return undefined;
    return { stream: createReadStream(file), size: info.size };
  }

  async removeBuild(repo: string, buildId: string): Promise<void> {
    await rm(this.#buildDir(repo, buildId), { recursive: true, force: true });
  }

  async builds(): Promise<StoredBuild[]> {
    const out: StoredBuild[] = [];
    for (const repoDir of await readdir(this.root).catch(() => [] as string[])) {
      for (const buildDir of await readdir(join(this.root, repoDir)).catch(() => [] as string[])) {
        const info = await stat(join(this.root, repoDir, buildDir)).catch(() => undefined);
        if (!info?.isDirectory()) continue;
        out.push({ repo: decodeURIComponent(repoDir), buildId: decodeURIComponent(buildDir), storedAt: info.mtime });
      }
    }
    return out;
  }

  #buildDir(repo: string, buildId: string): string {
    return join(this.root, encodeURIComponent(repo), encodeURIComponent(buildId));
  }

  #file(repo: string, buildId: string, path: string): string {
    const checked = checkArtifactPath(path);
    const base = this.#buildDir(repo, buildId);
    const file = checked ? resolve(base, ...checked.split('/')) : '';
    if (!checked || !file.startsWith(base + sep)) throw new CodedError('bad_request', `not an artifact path: ${path}`, false);
    return file;
  }
}

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3 && n % 1024 ** 3 === 0) return `${n / 1024 ** 3} GiB`;
  if (n >= 1024 ** 2) return `${Math.round((n / 1024 ** 2) * 10) / 10} MiB`;
  if (n >= 1024) return `${Math.round((n / 1024) * 10) / 10} KiB`;
  return `${n} B`;
}

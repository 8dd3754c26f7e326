/**
 * Finds and reads the build spec at the root of a checked-out repository. The repository is
 * untrusted: the file must be a regular file (a symlink could point at host files and leak
 * them through error messages) and no bigger than the parser's cap, checked before reading.
 */
import { constants } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { MAX_SPEC_BYTES } from './parse-spec.js';

export type SpecPath = 'bosun.yml' | '.bosun.yml';

export interface SpecFile {
  path: SpecPath;
  text: Buffer;
}

const CANDIDATES: readonly SpecPath[] = ['bosun.yml', '.bosun.yml'];

export async function readSpecFile(workspaceDir: string): Promise<SpecFile> {
  const present: SpecPath[] = [];
  for (const name of CANDIDATES) {
    if (await exists(join(workspaceDir, name))) present.push(name);
  }
  if (present.length > 1) throw new UserError('spec_invalid', 'both bosun.yml and .bosun.yml are at the repository root; keep one');
  const [path] = present;
  if (!path) throw new UserError('spec_invalid', 'no bosun.yml or .bosun.yml at the repository root');
  return { path, text: await readCapped(join(workspaceDir, path), path) };
}

async function exists(file: string): Promise<boolean> {
  try {
    await lstat(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

async function readCapped(file: string, name: SpecPath): Promise<Buffer> {
  let handle;
  try {
    // O_NOFOLLOW: refuse a symlink at open time, not just at lstat time (no race).
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new UserError('spec_invalid', `${name} is a symbolic link; it must be a regular file`);
    throw err;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new UserError('spec_invalid', `${name} is not a regular file`);
    if (info.size > MAX_SPEC_BYTES) {
      throw new UserError('spec_invalid', `${name} is ${Math.ceil(info.size / 1024)} KiB; the limit is ${MAX_SPEC_BYTES / 1024} KiB`);
    }
    // Read at most one byte past the cap, in case the file grew after stat. The buffer starts at
    // the stat size (a zeroed 256 KiB one per build cost more than the read) and grows only
    // for a file that grew.
    let buf = Buffer.allocUnsafe(info.size + 1);
    let bytesRead = 0;
    for (;;) {
      const { bytesRead: n } = await handle.read(buf, bytesRead, buf.length - bytesRead, bytesRead);
      if (n === 0) break;
      bytesRead += n;
      if (bytesRead < buf.length) continue;
      if (buf.length > MAX_SPEC_BYTES) break;
      const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, MAX_SPEC_BYTES + 1));
      buf.copy(bigger, 0, 0, bytesRead);
      buf = bigger;
    }
    if (bytesRead > MAX_SPEC_BYTES) throw new UserError('spec_invalid', `${name} is larger than the limit of ${MAX_SPEC_BYTES / 1024} KiB`);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

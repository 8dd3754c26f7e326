import { readdir, readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { PublishError } from './publish-error.js';

/** One file of a Python release in `dist/`, as the upload API describes it. */
export interface DistFile {
  filename: string;
  content: Buffer;
  sha256: string;
  md5: string;
  filetype: 'bdist_wheel' | 'sdist';
  /** The wheel's python tag (`py3`), `source` for an sdist. */
  pyversion: string;
}

export interface DistRelease {
  /** PEP 503 normalised project name. */
  name: string;
  version: string;
  files: DistFile[];
  /** Core metadata fields from a wheel's METADATA (Metadata-Version, Summary, …), when there is a wheel. */
  metadata: Record<string, string>;
}

/** PEP 503 normalisation: runs of `-`, `_`, `.` become one `-`, lowercase. */
export function normalizeName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

/** Name and version from a wheel or sdist file name (PEP 427 / PEP 625), or undefined for other files. */
export function parseDistName(filename: string): { name: string; version: string; filetype: DistFile['filetype']; pyversion: string } | undefined {
  if (filename.endsWith('.whl')) {
    const parts = filename.slice(0, -4).split('-');
    if (parts.length !== 5 && parts.length !== 6) return undefined;
    return { name: parts[0] as string, version: parts[1] as string, filetype: 'bdist_wheel', pyversion: parts[parts.length - 3] as string };
  }
  const stem = filename.endsWith('.tar.gz') ? filename.slice(0, -7) : filename.endsWith('.zip') ? filename.slice(0, -4) : undefined;
  if (!stem) return undefined;
  const dash = stem.lastIndexOf('-');
  if (dash <= 0 || dash === stem.length - 1) return undefined;
  return { name: stem.slice(0, dash), version: stem.slice(dash + 1), filetype: 'sdist', pyversion: 'source' };
}

/**
 * The one release in `dir` (a package's `dist/`): every wheel and sdist, all of one project
 * and version. Anything else there (several versions, no distributions) is an error saying so.
 */
export async function readRelease(dir: string, shownAs: string): Promise<DistRelease> {
  const names = await readdir(dir).catch(() => null);
  if (!names) throw new PublishError(`no ${shownAs} directory: a step must build the distributions first (python3 -m build, or pip wheel and setup.py sdist)`);
  const files: DistFile[] = [];
  const releases = new Set<string>();
  let name = '';
  let version = '';
  for (const filename of names.sort()) {
    const parsed = parseDistName(filename);
    if (!parsed) continue;
    const content = await readFile(join(dir, filename));
    name = normalizeName(parsed.name);
    version = parsed.version;
    releases.add(`${name} ${version}`);
    files.push({
      filename,
      content,
      filetype: parsed.filetype,
      pyversion: parsed.pyversion,
      sha256: createHash('sha256').update(content).digest('hex'),
      md5: createHash('md5').update(content).digest('hex'),
    });
  }
  if (files.length === 0) throw new PublishError(`no wheel or sdist in ${shownAs} (a step must build them first, e.g. python3 -m build)`);
  if (releases.size > 1) throw new PublishError(`${shownAs} holds several releases (${[...releases].join(', ')}); it must hold one`);
  const wheel = files.find((f) => f.filetype === 'bdist_wheel');
  const metadata = wheel ? wheelMetadata(wheel.content) : {};
  return { name, version, files, metadata };
}

/** The single-valued core metadata fields of a wheel's `*.dist-info/METADATA` (empty if unreadable). */
function wheelMetadata(zip: Buffer): Record<string, string> {
  try {
    const text = readZipEntry(zip, (n) => /^[^/]+\.dist-info\/METADATA$/.test(n));
    if (!text) return {};
    const out: Record<string, string> = {};
    for (const line of text.toString('utf8').split(/\r?\n/)) {
      if (line === '') break;
      const m = /^([A-Za-z-]+): (.*)$/.exec(line);
      if (m && !((m[1] as string) in out)) out[m[1] as string] = m[2] as string;
    }
    return out;
  } catch {
    return {};
  }
}

/** One entry of a zip file, found through its central directory (stored or deflated). */
function readZipEntry(zip: Buffer, match: (name: string) => boolean): Buffer | undefined {
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) return undefined;
  const count = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) return undefined;
    const method = zip.readUInt16LE(at + 10);
    const size = zip.readUInt32LE(at + 20);
    const nameLen = zip.readUInt16LE(at + 28);
    const extraLen = zip.readUInt16LE(at + 30);
    const commentLen = zip.readUInt16LE(at + 32);
    const local = zip.readUInt32LE(at + 42);
    const name = zip.subarray(at + 46, at + 46 + nameLen).toString('utf8');
    if (match(name)) {
      const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
      const data = zip.subarray(start, start + size);
      return method === 0 ? data : inflateRawSync(data);
    }
    at += 46 + nameLen + extraLen + commentLen;
  }
  return undefined;
}

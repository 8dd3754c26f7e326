import { join } from 'node:path';
import type { DistFile, DistRelease } from './dist-files.js';
import { readRelease } from './dist-files.js';
import { PublishError } from './publish-error.js';

export interface PypiPublishInput {
  workspace: string;
  /** Relative to the workspace; its `dist/` holds the release. */
  packageDir: string;
  /** Name from server config, for messages. */
  repository: string;
  uploadUrl: string;
  indexUrl: string;
  username: string;
  password: string;
  signal: AbortSignal;
  onLine(line: string): void;
}

export interface PypiPublishResult {
  name: string;
  version: string;
  files: { filename: string; sha256: string }[];
  /** Every file was already in the index with the same hash: nothing uploaded. */
  alreadyPublished: boolean;
}

/**
 * Uploads the release a step left in `<package_dir>/dist/` with the API twine uses (a multipart
 * POST of `:action=file_upload` with HTTP basic auth), after reading the repository's PEP 503
 * page for the project: a file already there with the same sha256 is skipped (all skipped:
 * "already published"); a file there with another hash is an error naming the version (an
 * index never takes a release back, so a changed build needs a new version).
 */
export async function publishDistributions(input: PypiPublishInput): Promise<PypiPublishResult> {
  const shownAs = `${input.packageDir === '.' ? '' : `${input.packageDir}/`}dist/`;
  const release = await readRelease(join(input.workspace, input.packageDir, 'dist'), shownAs);
  const where = `index ${input.repository} (${hostOf(input.uploadUrl)})`;
  const auth = `Basic ${Buffer.from(`${input.username}:${input.password}`).toString('base64')}`;
  let existing = await indexedHashes(input, release.name, auth, where);
  let uploaded = 0;
  for (const file of release.files) {
    if (sameOrConflict(existing, file, release, where)) {
      input.onLine(`bosun: ${file.filename} is already in ${where} with the same sha256`);
      continue;
    }
    input.onLine(`bosun: uploading ${file.filename} (sha256 ${file.sha256}) to ${where}`);
    const answer = await upload(input, release, file, auth, where);
    if (answer === 'exists') {
      // Someone uploaded it meanwhile: the same file is fine, another one is the conflict.
      existing = await indexedHashes(input, release.name, auth, where);
      if (!sameOrConflict(existing, file, release, where)) throw new PublishError(`${where} says ${file.filename} exists but does not list it`);
      continue;
    }
    uploaded += 1;
  }
  return {
    name: release.name,
    version: release.version,
    files: release.files.map((f) => ({ filename: f.filename, sha256: f.sha256 })),
    alreadyPublished: uploaded === 0,
  };
}

/** True when the index has this file with the same hash; throws when it has it with another. */
function sameOrConflict(existing: Map<string, string>, file: DistFile, release: DistRelease, where: string): boolean {
  const hash = existing.get(file.filename);
  if (hash === undefined) return false;
  if (hash === file.sha256) return true;
  throw new PublishError(
    `${release.name} ${release.version} is already published in ${where} with different contents (${file.filename}: sha256 ${hash} there, ${file.sha256} here); publish a new version`,
  );
}

/** filename → sha256 from the project's PEP 503 page (empty when the project is not there). */
async function indexedHashes(input: PypiPublishInput, name: string, auth: string, where: string): Promise<Map<string, string>> {
  const url = `${input.indexUrl.replace(/\/?$/, '/')}${name}/`;
  const res = await request(url, { headers: { authorization: auth, accept: 'text/html' }, signal: input.signal }, where);
  if (res.status === 404) return new Map();
  if (res.status === 401 || res.status === 403)
    throw new PublishError(`${where} refused Bosun's credentials reading ${url} (HTTP ${res.status}); check publish.pypi.repositories.${input.repository}`);
  if (res.status !== 200) throw new PublishError(`${where} answered HTTP ${res.status} for ${url}`);
  const out = new Map<string, string>();
  for (const m of res.body.matchAll(/<a\s[^>]*href="([^"]*)"[^>]*>([^<]*)<\/a>/gi)) {
    const hash = /#sha256=([0-9a-f]{64})/i.exec(m[1] ?? '')?.[1];
    const filename = (m[2] ?? '').trim();
    if (hash && filename) out.set(filename, hash.toLowerCase());
  }
  return out;
}

async function upload(input: PypiPublishInput, release: DistRelease, file: DistFile, auth: string, where: string): Promise<'ok' | 'exists'> {
  const form = new FormData();
  form.set(':action', 'file_upload');
  form.set('protocol_version', '1');
  form.set('metadata_version', release.metadata['Metadata-Version'] ?? '2.1');
  form.set('name', release.metadata.Name ?? release.name);
  form.set('version', release.version);
  form.set('filetype', file.filetype);
  form.set('pyversion', file.pyversion);
  form.set('sha256_digest', file.sha256);
  form.set('md5_digest', file.md5);
  for (const [field, key] of [
    ['summary', 'Summary'],
    ['requires_python', 'Requires-Python'],
    ['license', 'License'],
    ['home_page', 'Home-page'],
  ] as const) {
    const value = release.metadata[key];
    if (value) form.set(field, value);
  }
  form.set('content', new Blob([file.content]), file.filename);
  const res = await request(input.uploadUrl, { method: 'POST', body: form, headers: { authorization: auth }, signal: input.signal }, where);
  if (res.status >= 200 && res.status < 300) return 'ok';
  if (res.status === 401 || res.status === 403)
    throw new PublishError(`${where} refused Bosun's credentials (HTTP ${res.status}); check publish.pypi.repositories.${input.repository}`);
  if ((res.status === 400 || res.status === 409) && /already exists/i.test(res.body)) return 'exists';
  throw new PublishError(
    `${where} refused ${file.filename}: HTTP ${res.status} ${res.body
      .replace(/<[^>]*>/g, ' ')
      .replace(/\s+/g, ' ')
      .trim()
      .slice(0, 300)}`,
  );
}

async function request(url: string, init: RequestInit, where: string): Promise<{ status: number; body: string }> {
  try {
    const res = await fetch(url, { ...init, redirect: 'follow' });
    return { status: res.status, body: await res.text() };
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new PublishError(`${where} is unreachable: ${cause?.code ?? cause?.message ?? (err as Error).message}`, { cause: err });
  }
}

function hostOf(url: string): string {
  return new URL(url).host;
}

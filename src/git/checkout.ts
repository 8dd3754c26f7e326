import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UserError } from '../errors.js';
import { isSha } from '../domain/ref-name.js';
import { git } from './git.js';
import { commitRef, type GitMirrors } from './git-mirrors.js';

/**
 * Makes `dir` a checkout of exactly `sha` from `url`: detached HEAD, depth 1, and a
 * self-contained `.git` (no remote, no link to the mirror) that git in a step's container can
 * use. Idempotent: an existing checkout at that sha is reused.
 *
 * The commit comes from this host's mirror of `url`, fetched from `url` only when the mirror
 * lacks it; the checkout itself is one `git clone` from the mirror (each git process costs this
 * large process a fork). A token only travels in `extraEnv` (see `GitMirrors`).
 */
export async function checkout(
  url: string,
  sha: string,
  dir: string,
  opts: { mirrors: GitMirrors; extraEnv?: Record<string, string> | undefined },
): Promise<void> {
  if (!isSha(sha)) throw new UserError('bad_request', 'checkout needs a full commit sha');
  if (await isCheckoutOf(dir, sha)) return;
  const mirror = await opts.mirrors.ensureCommit(url, sha, opts.extraEnv);
  // Build the checkout beside its final place and rename it in, so two workers preparing the
  // same build never see (or delete) each other's half-made directory.
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await mkdir(dirname(tmp), { recursive: true });
    await git([
      '-c',
      'advice.detachedHead=false',
      'clone',
      '-q',
      '--template=',
      '--depth=1',
      '--single-branch',
      '--no-tags',
      '--branch',
      commitRef(sha).slice('refs/tags/'.length),
      '--',
      pathToFileURL(mirror).href,
      tmp,
    ]);
    await forgetMirror(join(tmp, '.git'), sha);
    if (await isCheckoutOf(dir, sha)) return;
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir).catch(async (err: unknown) => {
      if (!(await isCheckoutOf(dir, sha))) throw err;
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * What the clone from the mirror left that names it: the `origin` remote, the ref that kept
 * the commit in the mirror, and the reflog ("clone: from file:///…"). A fresh `git init`
 * config replaces the first; HEAD (the detached sha), the index and `shallow` stay.
 */
async function forgetMirror(gitDir: string, sha: string): Promise<void> {
  await writeFile(join(gitDir, 'config'), '[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n');
  const packed = await readFile(join(gitDir, 'packed-refs'), 'utf8').catch(() => '');
  const kept = packed.split('\n').filter((line) => line !== '' && !line.startsWith('#') && !line.endsWith(` ${commitRef(sha)}`));
  if (kept.length > 0) await writeFile(join(gitDir, 'packed-refs'), `${kept.join('\n')}\n`);
  else await rm(join(gitDir, 'packed-refs'), { force: true });
  await rm(join(gitDir, commitRef(sha)), { force: true });
  await rm(join(gitDir, 'refs', 'tags', 'bosun'), { recursive: true, force: true });
  await rm(join(gitDir, 'logs'), { recursive: true, force: true });
}

/** Whether `dir` is a checkout of `sha` (reads `.git/HEAD`: a detached checkout's HEAD holds the sha; no git process). */
async function isCheckoutOf(dir: string, sha: string): Promise<boolean> {
  const head = await readFile(join(dir, '.git', 'HEAD'), 'utf8').catch(() => '');
  return head.trim() === sha;
}

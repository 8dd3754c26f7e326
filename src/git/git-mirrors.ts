import { createHash, randomBytes } from 'node:crypto';
import { access, mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { UserError } from '../errors.js';
import { isSha } from '../domain/ref-name.js';
import { git } from './git.js';

/**
 * Bare mirrors of the repositories this host checks out, one per clone URL
 * (`<dir>/<sha256(url), 16 hex>.git`), shared by every build on the host: a commit is fetched
 * from its origin once, and builds' checkouts are made from the mirror, with no network and
 * no fetch of what the host already has.
 *
 * - Each commit fetched is kept reachable by the ref `refs/tags/bosun/<sha>`; that ref's file
 *   existing is how "the mirror has this commit" is known without running git (`gc.packRefs`
 *   is off for these fetches, so git never moves it into `packed-refs`).
 * - The origin URL is only an argument after `--`, and a token only travels in `extraEnv`
 *   (`GIT_CONFIG_*`): the mirror configures no remote and stores neither (R11).
 * - Concurrency: in-process callers share one creation per mirror and one fetch per commit;
 *   across processes, the mirror is made beside its place and renamed in, and a fetch that lost
 *   a race on the ref counts as done when the ref is there.
 * - Growth: a mirror keeps every commit fetched into it; nothing prunes it yet.
 */
export class GitMirrors {
  readonly #dir: string;
  readonly #pending = new Map<string, Promise<string>>();

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** The mirror's path for `url`. */
  pathOf(url: string): string {
    return join(this.#dir, `${createHash('sha256').update(url).digest('hex').slice(0, 16)}.git`);
  }

  /** Makes sure the mirror of `url` holds commit `sha` (a full sha); returns the mirror's path. */
  async ensureCommit(url: string, sha: string, extraEnv?: Record<string, string>): Promise<string> {
    // The sha becomes a ref name and a path under the mirror: only a full sha is one.
    if (!isSha(sha)) throw new UserError('bad_request', 'a mirror fetch needs a full commit sha');
    const mirror = this.pathOf(url);
    if (await exists(join(mirror, commitRef(sha)))) return mirror;
    return this.#once(`fetch ${mirror} ${sha}`, async () => {
      await this.#once(`init ${mirror}`, () => initBare(mirror));
      await fetchInto(mirror, url, sha, extraEnv);
      return mirror;
    });
  }

  #once(key: string, make: () => Promise<string>): Promise<string> {
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = make().finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    return pending;
  }
}

/** The mirror's ref that keeps `sha`; as a clone's `--branch`, it is `bosun/<sha>`. */
export function commitRef(sha: string): string {
  return `refs/tags/bosun/${sha}`;
}

async function initBare(mirror: string): Promise<string> {
  if (await exists(join(mirror, 'HEAD'))) return mirror;
  const tmp = `${mirror}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await mkdir(dirname(mirror), { recursive: true });
    await git(['init', '-q', '--bare', '--template=', '--', tmp]);
    await rename(tmp, mirror).catch(async (err: unknown) => {
      if (!(await exists(join(mirror, 'HEAD')))) throw err;
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return mirror;
}

async function fetchInto(mirror: string, url: string, sha: string, extraEnv?: Record<string, string>): Promise<void> {
  try {
    await git(
      ['-c', 'protocol.version=2', '-c', 'gc.packRefs=false', 'fetch', '-q', '--no-tags', '--no-write-fetch-head', '--', url, `+${sha}:${commitRef(sha)}`],
      { cwd: mirror, extraEnv },
    );
  } catch (err) {
    if (await exists(join(mirror, commitRef(sha)))) return;
    throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

import type { ServerConfig } from '../config.js';
import { isSha } from '../domain/ref-name.js';
import { gitAuthEnv } from './git-auth.js';
import { git } from './git.js';
import type { GitMirrors } from './git-mirrors.js';

/** One commit of a range, as people read it on an approval card (raw text: escape it when rendering). */
export interface RangeCommit {
  sha: string;
  author: string;
  title: string;
}

/** The commits in `head` that `base` does not have (`git log base..head`), newest first. */
export interface CommitRange {
  base: string;
  head: string;
  /** How many commits the range holds in all. */
  total: number;
  /** The first (newest) commits read, at most `maxCommits`. */
  commits: RangeCommit[];
  /** `https://github.com/<owner>/<name>/compare/<base>...<head>` when the repository is on GitHub. */
  compareUrl?: string;
}

/** At most this many commits of a range are read (titles and authors). */
export const maxRangeCommits = 50;

/**
 * The commit range from `base` to `head` of a configured repository, read from this host's
 * mirror (both commits fetched into it when missing). Best effort: undefined when the
 * repository is unknown, a sha is not a full sha, a commit cannot be fetched, or it all
 * takes over `timeoutMs`. Reads at most `maxRangeCommits` commits' titles and authors.
 */
export async function commitRange(
  config: Pick<ServerConfig, 'repos' | 'github'>,
  mirrors: GitMirrors,
  repo: string,
  base: string,
  head: string,
  timeoutMs = 5000,
): Promise<CommitRange | undefined> {
  const url = config.repos[repo]?.url;
  if (!url || !isSha(base) || !isSha(head)) return undefined;
  let timer: NodeJS.Timeout | undefined;
  const read = (async (): Promise<CommitRange> => {
    const env = gitAuthEnv(config, repo);
    await mirrors.ensureCommit(url, base, env);
    const mirror = await mirrors.ensureCommit(url, head, env);
    const range = `${base}..${head}`;
    const total = Number((await git(['rev-list', '--count', range, '--'], { cwd: mirror, timeoutMs })).trim()) || 0;
    const out = await git(['log', `--max-count=${maxRangeCommits}`, '--format=%H%x1f%an%x1f%s', range, '--'], { cwd: mirror, timeoutMs });
    const commits = out
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [sha = '', author = '', title = ''] = line.split('\x1f');
        return { sha, author, title };
      });
    const compareUrl = githubCompareUrl(url, base, head);
    return { base, head, total, commits, ...(compareUrl ? { compareUrl } : {}) };
  })();
  try {
    return await Promise.race([read, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), timeoutMs)))]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
    read.catch(() => undefined);
  }
}

/** The GitHub compare page of two commits when `url` is a github.com clone URL (https or ssh), else undefined. */
export function githubCompareUrl(url: string, base: string, head: string): string | undefined {
  const m = /^(?:https:\/\/(?:[^@/]+@)?github\.com\/|git@github\.com:|ssh:\/\/git@github\.com\/)([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+?)(?:\.git)?\/?$/.exec(url);
  if (!m) return undefined;
  return `https://github.com/${m[1]}/${m[2]}/compare/${base}...${head}`;
}

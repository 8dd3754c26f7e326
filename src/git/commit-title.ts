import type { ServerConfig } from '../config.js';
import { gitAuthEnv } from './git-auth.js';
import { git } from './git.js';
import type { GitMirrors } from './git-mirrors.js';

/**
 * The first line of a build's commit message, for people (an approval card), read from this
 * host's mirror of the repository (`PipelineDeps.mirrors`, fetched into it if missing). Best effort: undefined when
 * the repository is gone, the commit cannot be fetched, or it takes over `timeoutMs`.
 */
export async function commitTitle(
  config: Pick<ServerConfig, 'repos' | 'github'>,
  mirrors: GitMirrors,
  repo: string,
  sha: string,
  timeoutMs = 5000,
): Promise<string | undefined> {
  const url = config.repos[repo]?.url;
  if (!url) return undefined;
  let timer: NodeJS.Timeout | undefined;
  const read = (async () => {
    const mirror = await mirrors.ensureCommit(url, sha, gitAuthEnv(config, repo));
    const out = await git(['log', '-1', '--format=%s', sha, '--'], { cwd: mirror, timeoutMs });
    return out.split('\n')[0]?.trim() || undefined;
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

import type { ServerConfig } from '../config.js';

/**
 * Git settings that authenticate fetches from an https GitHub URL with the configured token,
 * for one git command. They travel in the environment (`GIT_CONFIG_COUNT` / `_KEY_0` /
 * `_VALUE_0`, the env form of `git -c http.<url>.extraHeader=…`), so the token is never in the
 * clone URL, never in `.git/config`, never in argv (visible in `ps`), and never in logs. Scoped
 * to the repository's origin, so a redirect or submodule elsewhere does not receive it.
 */
export function tokenAuthEnv(url: string, token: string): Record<string, string> {
  let origin: string;
  try {
    const u = new URL(url);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return {};
    origin = u.origin;
  } catch {
    return {};
  }
  const basic = Buffer.from(`x-access-token:${token}`).toString('base64');
  return { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: `http.${origin}/.extraHeader`, GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}` };
}

/** The auth env for checking out a configured repository, or none (no token, or not https). */
export function gitAuthEnv(config: Pick<ServerConfig, 'github' | 'repos'>, repo: string): Record<string, string> | undefined {
  const url = config.repos[repo]?.url;
  const token = config.github?.token;
  if (!url || !token) return undefined;
  const env = tokenAuthEnv(url, token);
  return Object.keys(env).length > 0 ? env : undefined;
}

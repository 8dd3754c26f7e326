/**
 * `~/…` cache paths. A step's HOME is normally fresh and empty (a tmpfs in containers, a
 * temporary directory for `local`), so nothing under `~` outlives a step. A stage whose cache
 * names a `~/…` path instead gets a HOME kept in the workspace, `.git/bosun-home` (inside `.git`,
 * so `git status` stays clean, like the workspace's ready file), shared by the stage's steps and
 * cached like any workspace path: `~/.cache/pip` is `.git/bosun-home/.cache/pip` in the archive.
 */
export const cacheHomeDir = '.git/bosun-home';

/** True when a path of the cache is under `~`. */
export function usesHome(paths: readonly string[]): boolean {
  return paths.some((p) => p.startsWith('~/'));
}

/** The cache's paths relative to the workspace (`~/x` → `.git/bosun-home/x`). */
export function workspacePaths(paths: readonly string[]): string[] {
  return paths.map((p) => (p.startsWith('~/') ? `${cacheHomeDir}/${p.slice(2)}` : p));
}

import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import type { Build } from '../domain/build.js';
import type { ServerConfig } from '../config.js';
import { UserError } from '../errors.js';
import { checkout } from '../git/checkout.js';
import { GitMirrors } from '../git/git-mirrors.js';
import { gitAuthEnv } from '../git/git-auth.js';

/** Where a build's checkout lives on this host. */
export function workspacePath(config: ServerConfig, buildId: string): string {
  return join(config.dataDir, 'workspaces', buildId.replace(/[^0-9A-Za-z_-]/g, '_'));
}

/** One `GitMirrors` per data directory in this process, so concurrent builds share fetches. */
const mirrorsByDir = new Map<string, GitMirrors>();

/** The repository mirrors under `<dataDir>/git-mirrors`, shared by this host's builds. */
export function gitMirrors(config: Pick<ServerConfig, 'dataDir'>): GitMirrors {
  const dir = join(config.dataDir, 'git-mirrors');
  let mirrors = mirrorsByDir.get(dir);
  if (!mirrors) {
    mirrors = new GitMirrors(dir);
    mirrorsByDir.set(dir, mirrors);
  }
  return mirrors;
}

/** A checkout of exactly the build's commit on this host (made once, reused by its stages). */
export async function ensureWorkspace(config: ServerConfig, build: Build): Promise<string> {
  const repo = config.repos[build.repo];
  if (!repo) throw new UserError('unknown_repo', `repository "${build.repo}" is no longer configured`);
  const dir = workspacePath(config, build.id);
  await checkout(repo.url, build.sha, dir, { mirrors: gitMirrors(config), extraEnv: gitAuthEnv(config, build.repo) });
  return dir;
}

export async function removeWorkspace(config: ServerConfig, buildId: string): Promise<void> {
  await rm(workspacePath(config, buildId), { recursive: true, force: true });
}

import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import type { Build } from '../domain/build.js';
import type { ServerConfig } from '../config.js';
import { UserError } from '../errors.js';
import { checkout } from '../git/checkout.js';
import type { GitMirrors } from '../git/git-mirrors.js';
import { gitAuthEnv } from '../git/git-auth.js';

/** Where a build's checkout lives on this host. */
export function workspacePath(config: ServerConfig, buildId: string): string {
  return join(config.dataDir, 'workspaces', buildId.replace(/[^0-9A-Za-z_-]/g, '_'));
}

/**
 * Where the host's repository mirrors live: `<dataDir>/git-mirrors`. The app wiring makes one
 * `GitMirrors` on it per Bosun instance (`PipelineDeps.mirrors`); processes and instances
 * sharing the directory are safe (see `GitMirrors`).
 */
export function gitMirrorsDir(config: Pick<ServerConfig, 'dataDir'>): string {
  return join(config.dataDir, 'git-mirrors');
}

/** A checkout of exactly the build's commit on this host (made once, reused by its stages). */
export async function ensureWorkspace(deps: { config: ServerConfig; mirrors: GitMirrors }, build: Build): Promise<string> {
  const { config } = deps;
  const repo = config.repos[build.repo];
  if (!repo) throw new UserError('unknown_repo', `repository "${build.repo}" is no longer configured`);
  const dir = workspacePath(config, build.id);
  await checkout(repo.url, build.sha, dir, { mirrors: deps.mirrors, extraEnv: gitAuthEnv(config, build.repo) });
  return dir;
}

export async function removeWorkspace(config: ServerConfig, buildId: string): Promise<void> {
  await rm(workspacePath(config, buildId), { recursive: true, force: true });
}

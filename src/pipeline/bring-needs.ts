import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { lstat, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Build, StageRun } from '../domain/build.js';
import { checkArtifactPath } from '../artifacts/artifact-store.js';
import { artifactStoreOf } from './step-outputs.js';
import type { WorkerDeps } from './pipeline-deps.js';

/**
 * Written into the host workspace's `.git` when needed artifacts were brought in: a hash of
 * what was brought. A multi-node swarm makes a new workspace image when it changes
 * (`WorkspaceImages`), so a later stage on another node gets the files.
 */
export const workspaceInputsFile = '.git/bosun-inputs';

/**
 * Puts the artifacts of the stages `stage` needs (directly) into the host workspace before its
 * first step, wherever its steps will run: the local executor runs in that directory, a
 * multi-node swarm ships it as the stage's workspace image. (On one engine the container
 * executors' build volume already holds what the earlier stage wrote.) A path where the
 * checkout has a symlink or directory is skipped, never written through. Returns a line for
 * the log, or undefined when there was nothing to bring.
 */
export async function bringNeeds(deps: WorkerDeps, build: Build, stage: StageRun, workspace: string): Promise<string | undefined> {
  const needed = new Set(stage.needs);
  const files = (build.artifacts ?? []).filter((f) => needed.has(f.stage));
  if (files.length === 0) return undefined;
  const store = artifactStoreOf(deps);
  const brought: string[] = [];
  const skipped: string[] = [];
  for (const file of files) {
    const path = checkArtifactPath(file.path);
    const target = path ? resolve(workspace, ...path.split('/')) : '';
    if (!path || !target.startsWith(workspace + sep) || path.split('/')[0] === '.git' || !(await safeParents(workspace, path))) {
      skipped.push(file.path);
      continue;
    }
    const opened = await store.open(build.repo, build.id, path);
    if (!opened) {
      skipped.push(file.path);
      continue;
    }
    await mkdir(dirname(target), { recursive: true });
    const existing = await lstat(target).catch(() => undefined);
    if (existing && !existing.isFile()) {
      opened.stream.destroy();
      skipped.push(file.path);
      continue;
    }
    await rm(target, { force: true });
    await pipeline(opened.stream, createWriteStream(target, { flags: 'wx', mode: 0o644 }));
    brought.push(file.path);
  }
  const stamp = createHash('sha256')
    .update(files.map((f) => `${f.path}\0${f.sha256}`).join('\n'))
    .digest('hex');
  await writeFile(join(workspace, workspaceInputsFile), stamp);
  const from = [...needed].filter((n) => files.some((f) => f.stage === n)).join(', ');
  return `bosun: brought ${brought.length} artifact${brought.length === 1 ? '' : 's'} of ${from} into the workspace${brought.length ? `: ${brought.slice(0, 10).join(', ')}${brought.length > 10 ? ', …' : ''}` : ''}${skipped.length ? `; skipped ${skipped.join(', ')}` : ''}`;
}

/** True when no directory on the way to `path` inside `workspace` is a symlink (or a non-directory). */
async function safeParents(workspace: string, path: string): Promise<boolean> {
  const parts = path.split('/').slice(0, -1);
  let dir = workspace;
  for (const part of parts) {
    dir = join(dir, part);
    const info = await lstat(dir).catch(() => undefined);
    if (!info) return true;
    if (!info.isDirectory()) return false;
  }
  return true;
}

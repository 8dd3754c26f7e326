import { lstatSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { extract as extractTar, pack as packTar } from 'tar-fs';
import { CacheArchiveError } from './cache-archive.js';

/**
 * Moving files between a build's workspace, as its steps see it, and Bosun: what a cache
 * restore puts in before a stage's first step and what a save takes out after its last.
 *
 * Contract (every implementation):
 * - `put(target, tar)` extracts `tar` (entries relative to the workspace root, already checked
 *   by `copyEntries`) into the workspace the build's next steps will see; files that exist are
 *   replaced. Never writes outside the workspace: not through a symlink a step left there.
 * - `read(target, path, consume)` hands `consume` a tar stream of `path` (relative) as the steps
 *   left it, its entries named from the path's last component (`pip/…` for `.cache/pip`),
 *   symlinks as links (never followed), and resolves once `consume` has; false (and `consume`
 *   never called) when `path` does not exist. Never reads outside the workspace.
 * - Both may be called for a build whose steps have not run yet (the workspace is prepared
 *   first) and are safe to call concurrently for different builds.
 *
 * Implementations: `LocalWorkspaceFiles` (the `local` executor: the host checkout is the
 * workspace) and `VolumeWorkspaceFiles` (docker, and swarm on one node: the build's workspace
 * volume, through a never-started helper container). A multi-node swarm has none: the volume of
 * the node a step ran on is out of Bosun's reach, so `cache:` is refused there.
 */
export interface WorkspaceFiles {
  /** How the files move, for logs (`local`, `volume`). */
  readonly kind: string;
  /** Owner of restored entries (the step user). */
  readonly owner: { uid: number; gid: number };
  put(target: WorkspaceTarget, tar: NodeJS.ReadableStream): Promise<void>;
  read(target: WorkspaceTarget, path: string, consume: (tar: NodeJS.ReadableStream) => Promise<void>): Promise<boolean>;
}

export interface WorkspaceTarget {
  buildId: string;
  /** The build's checkout on this host. */
  workspace: string;
  /** An image of the stage (the volume helper is created from it; it never starts). */
  image: string;
}

/**
 * The `local` executor's workspace is the host checkout itself: files move with tar-fs.
 * Entries are owned by Bosun's own user (steps run as it). Before each write, no directory
 * between the workspace and the entry may be a symlink (tar-fs already never writes through
 * the entry itself when it is one); `read` refuses a path whose parents are symlinks.
 */
export class LocalWorkspaceFiles implements WorkspaceFiles {
  readonly kind = 'local';
  readonly owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };

  async put(target: WorkspaceTarget, tar: NodeJS.ReadableStream): Promise<void> {
    let problem: string | undefined;
    const extractor = extractTar(target.workspace, {
      ignore: (name: string) => {
        const through = symlinkedParent(target.workspace, name.slice(target.workspace.length + 1));
        if (through && !problem) problem = `${through} is a symlink in the workspace; the cache was not restored through it`;
        return problem !== undefined;
      },
    });
    await new Promise<void>((resolve, reject) => {
      extractor.on('finish', resolve);
      extractor.on('error', reject);
      tar.on('error', reject);
      tar.pipe(extractor);
    });
    if (problem) throw new CacheArchiveError(problem);
  }

  async read(target: WorkspaceTarget, path: string, consume: (tar: NodeJS.ReadableStream) => Promise<void>): Promise<boolean> {
    const through = symlinkedParent(target.workspace, path);
    if (through) throw new CacheArchiveError(`cache refused: ${through} is a symlink in the workspace`);
    if (!(await lstat(join(target.workspace, path)).catch(() => undefined))) return false;
    await consume(packTar(join(target.workspace, posix.dirname(path)), { entries: [posix.basename(path)] }));
    return true;
  }
}

/** The first directory above `relative` (inside `root`) that is a symlink, relative; undefined when none is. */
function symlinkedParent(root: string, relative: string): string | undefined {
  const parts = relative.split('/').filter((p) => p !== '' && p !== '.');
  for (let i = 1; i < parts.length; i++) {
    const sub = parts.slice(0, i).join('/');
    try {
      if (lstatSync(join(root, sub)).isSymbolicLink()) return sub;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

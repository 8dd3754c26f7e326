import { chmod, chown, mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type Docker from 'dockerode';
import { processHelper } from '../../process/process-helper.js';
import { stepUser } from './isolation.js';

/**
 * The host directory behind a plain `local` volume, when this process can fill it directly:
 * it runs as root on the engine's own host (the volume's `Mountpoint` exists here). Otherwise
 * undefined, and the volume is filled through a helper container.
 */
export async function hostVolumeDirectory(volume: Docker.Volume): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const info = (await volume.inspect()) as { Driver?: string; Mountpoint?: string; Options?: Record<string, string> | null };
  if (info.Driver !== 'local' || Object.keys(info.Options ?? {}).length > 0 || !info.Mountpoint) return undefined;
  const found = await stat(info.Mountpoint).catch(() => undefined);
  return found?.isDirectory() ? info.Mountpoint : undefined;
}

/**
 * Copies the checkout `workspace` into the volume directory `data` (its `Mountpoint`), every
 * entry owned by the step user, with `readyFile` (under `.git`) written last; what a step sees
 * matches the helper container's copy. No container, no `docker-untar`: measured ~0.3
 * CPU-seconds of engine work less per build on these machines.
 *
 * How: `cp -a` into a staging directory beside `data` (in the volume's own directory, which
 * the engine deletes with the volume; steps never see it), `chown -hR` (symlinks themselves,
 * never their targets), then each top-level entry is renamed into `data`, `.git` (holding
 * `readyFile`) last. Each rename is atomic, so a step never sees a torn file, and once `.git`
 * is there everything else is. Two processes filling the same volume at once both finish: an
 * entry already renamed in by the other (same content) is left as it is. A crash leaves a
 * staging directory (removed with the volume) and no `.git`, so the next fill copies again.
 * The volume is fresh when filled: no step has run in it, so nothing in it can redirect the
 * copy.
 */
export async function fillHostVolume(workspace: string, data: string, readyFile: string): Promise<void> {
  const [uid, gid] = stepUser.split(':').map(Number) as [number, number];
  const staging = await mkdtemp(join(dirname(data), 'bosun-fill-'));
  try {
    await processHelper.run('cp', ['-a', '--', `${workspace}/.`, staging], commandOptions);
    await mkdir(join(staging, dirname(readyFile)), { recursive: true });
    await writeFile(join(staging, readyFile), '');
    await processHelper.run('chown', ['-hR', `${uid}:${gid}`, '--', staging], commandOptions);
    // As the helper's extraction leaves it: the volume's root 0755, owned by the step user.
    await chmod(data, 0o755);
    await chown(data, uid, gid);
    const top = readyFile.split('/')[0]!;
    for (const entry of (await readdir(staging)).filter((e) => e !== top)) await renameUnlessThere(join(staging, entry), join(data, entry));
    await renameUnlessThere(join(staging, top), join(data, top));
    await stat(join(data, readyFile));
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

const commandOptions = { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeoutMs: 10 * 60_000, maxBuffer: 1024 * 1024 };

/** Rename, leaving a directory another fill already put there (same content) as it is. */
async function renameUnlessThere(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw err;
  }
}

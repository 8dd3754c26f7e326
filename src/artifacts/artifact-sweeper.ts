import type { Logger } from '../logger.js';
import type { ArtifactsConfig } from './artifacts-config.js';
import type { ArtifactStore, StoredBuild } from './artifact-store.js';

/**
 * Retention of kept files, per repository: a build's artifacts go when they are older than
 * `retainDays` (by when the build first stored one), or when `retainBuildsPerRepo` newer builds
 * (by build number) of the same repository have artifacts. 0 turns either rule off. Returns
 * what it removed. Idempotent: several servers sharing a data directory may all sweep.
 */
export async function sweepArtifacts(
  store: ArtifactStore,
  config: Pick<ArtifactsConfig, 'retainDays' | 'retainBuildsPerRepo'>,
  now = new Date(),
): Promise<StoredBuild[]> {
  const byRepo = new Map<string, StoredBuild[]>();
  for (const b of await store.builds()) byRepo.set(b.repo, [...(byRepo.get(b.repo) ?? []), b]);
  const cutoff = config.retainDays > 0 ? now.getTime() - config.retainDays * 86_400_000 : -Infinity;
  const removed: StoredBuild[] = [];
  for (const builds of byRepo.values()) {
    builds.sort((a, b) => Number(b.buildId) - Number(a.buildId) || b.storedAt.getTime() - a.storedAt.getTime());
    for (const [i, b] of builds.entries()) {
      const tooMany = config.retainBuildsPerRepo > 0 && i >= config.retainBuildsPerRepo;
      if (!tooMany && b.storedAt.getTime() >= cutoff) continue;
      await store.removeBuild(b.repo, b.buildId);
      removed.push(b);
    }
  }
  return removed;
}

/** Runs `sweepArtifacts` now and every `sweepIntervalSec` (like the other janitors); returns a stop function. */
export function startArtifactSweeper(store: ArtifactStore, config: ArtifactsConfig, log: Logger): () => void {
  let running = false;
  const sweep = (): void => {
    if (running) return;
    running = true;
    void sweepArtifacts(store, config)
      .then(
        (removed) => {
          if (removed.length > 0) log.info({ removed: removed.map((b) => `${b.repo}#${b.buildId}`) }, "Removed builds' artifacts past retention");
        },
        (err: unknown) => log.warn({ err }, 'Sweeping artifacts failed'),
      )
      .finally(() => (running = false));
  };
  const first = setTimeout(sweep, 5000);
  first.unref();
  const timer = setInterval(sweep, config.sweepIntervalSec * 1000);
  timer.unref();
  return () => {
    clearTimeout(first);
    clearInterval(timer);
  };
}

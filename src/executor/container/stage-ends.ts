/**
 * The stage removals (`endStage`) still running, by build. The pipeline advances a build before
 * its stage's sandboxes are gone (their removal is off the build's critical path), so the
 * build's cleanup can start while they are still being removed: `cleanupBuild` first waits for
 * them (`settled`), so the two never race for the same containers and the network goes last.
 */
export class StageEnds {
  readonly #running = new Map<string, Set<Promise<void>>>();

  /** Runs `remove` for `buildId`, known as running until it settles. */
  run(buildId: string, remove: () => Promise<void>): Promise<void> {
    const set = this.#running.get(buildId) ?? new Set<Promise<void>>();
    this.#running.set(buildId, set);
    const done: Promise<void> = remove().finally(() => {
      set.delete(done);
      if (set.size === 0 && this.#running.get(buildId) === set) this.#running.delete(buildId);
    });
    set.add(done);
    return done;
  }

  /** Resolves once every removal of `buildId` running now has settled (either way). */
  async settled(buildId: string): Promise<void> {
    await Promise.allSettled([...(this.#running.get(buildId) ?? [])]);
  }
}

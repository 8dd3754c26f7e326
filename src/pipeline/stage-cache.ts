import { join, posix } from 'node:path';
import { pack as tarPack } from 'tar-stream';
import type { Build, StageRun } from '../domain/build.js';
import type { ServerConfig } from '../config.js';
import type { Logger } from '../logger.js';
import { CodedError } from '../errors.js';
import { CacheStore, type CacheHit } from '../cache/cache-store.js';
import { cacheScope, type CacheScope } from '../cache/cache-scope.js';
import { gitCommitFiles, renderCacheKey } from '../cache/cache-key.js';
import { addParentDirectories, CacheArchiveError, checkEntries, copyEntries, formatBytes } from '../cache/cache-archive.js';
import type { WorkspaceFiles, WorkspaceTarget } from '../cache/workspace-files.js';
import { cacheHomeDir, usesHome, workspacePaths } from '../cache/cache-home.js';
import { workspaceMount } from '../executor/container/isolation.js';

/**
 * A stage's cache (`cache:`), around its steps: `restoreStageCache` before the first step,
 * `saveStageCache` after the last one succeeded (before the stage is recorded as succeeded, so
 * the workspace is still there). What happened is said in lines for the logs:
 * - restore: `hit`, `partial hit` (a restore-key matched) or `miss`, with size and time, in the
 *   log of the stage's first step;
 * - save: in the log of the pseudo-step `cache:save` (read like a step's log).
 *
 * A cache never fails a build that would pass without it: a restore that breaks is reported
 * and the steps run without it; a save that breaks or is refused (a symlink out of the
 * workspace, over the size cap) is reported and the stage still succeeds. What does fail the
 * stage, before any step runs: a key that cannot be rendered (a `hashFiles` glob leaving the
 * repository, a rendered key that is too long), and a cache on an executor that cannot move
 * files in and out of its workspaces (`files` absent: a multi-node swarm).
 */
export interface StageCacheDeps {
  config: Pick<ServerConfig, 'dataDir' | 'caches' | 'repos'>;
  /** How files reach the workspace the steps see; absent where caches are not available. */
  files?: WorkspaceFiles;
  log: Logger;
}

/** The pseudo-step whose log tells how the save went. */
export const cacheSaveStep = 'cache:save';

export interface StageCacheState {
  key: string;
  scope: CacheScope;
  /** The key itself was found (in any namespace the build reads): nothing is saved. */
  exact: boolean;
  /** Lines for the first step's log. */
  notes: string[];
  /** Set when the stage must fail before its first step (the notes say why). */
  refused?: string;
  /** The cache has `~/…` paths: the stage's steps get HOME = `cacheHomeDir` in the workspace. */
  home?: boolean;
}

export function cacheStore(config: Pick<ServerConfig, 'dataDir' | 'caches'>): CacheStore {
  return new CacheStore(join(config.dataDir, 'caches'), config.caches.maxRepoMb * 2 ** 20);
}

/** Renders the key and, when `restore`, restores the best cache into the workspace. */
export async function restoreStageCache(
  deps: StageCacheDeps,
  build: Build,
  stage: StageRun,
  workspace: string,
  restore: boolean,
): Promise<StageCacheState | undefined> {
  const cache = stage.cache;
  if (!cache) return undefined;
  const defaultBranch = deps.config.repos[build.repo]?.defaultBranch ?? 'master';
  const scope = cacheScope(build, defaultBranch);
  const notes: string[] = [];
  const fail = (why: string): StageCacheState => ({ key: '', scope, exact: false, notes: [...notes, `bosun: the step did not run: ${why}`], refused: why });
  if (!deps.files) {
    return fail(
      'cache: is not available with this executor: a multi-node swarm (swarm.registry set) runs steps on nodes whose workspace volumes Bosun cannot reach; remove `cache:` or run this repository on one node',
    );
  }
  let key: string;
  try {
    const rendered = await renderCacheKey(cache.key, gitCommitFiles(workspace, build.sha));
    key = rendered.key;
    notes.push(...rendered.notes);
  } catch (err) {
    if (err instanceof CodedError && !err.retryable) return fail(err.message);
    throw err;
  }
  if (scope.untrusted)
    notes.push(`bosun: cache: untrusted build: reads ${scope.read.join(', ')}; saves only to ${scope.write}, which trusted builds never read`);
  const store = cacheStore(deps.config);
  const hit = await store.find(build.repo, scope.read, key, cache.restoreKeys);
  const exact = hit?.kind === 'exact';
  const home = usesHome(cache.paths);
  const target: WorkspaceTarget = { buildId: build.id, workspace, image: firstImage(stage) };
  if (home) notes.push(`bosun: cache: HOME is ${cacheHomeDir} in the workspace for this stage's steps (the cache keeps ~/ paths)`);
  if (!restore) return { key, scope, exact, notes, home };
  // The HOME kept in the workspace exists before the first step, whatever the restore brings.
  if (home) await putHome(deps.files, target);
  if (!hit) {
    notes.push(
      `bosun: cache ${key}: miss${cache.restoreKeys.length ? ` (no restore key matched: ${cache.restoreKeys.join(', ')})` : ''}; it is saved if the stage succeeds`,
    );
    return { key, scope, exact, notes, home };
  }
  const started = Date.now();
  try {
    await putArchive(deps.files, store, hit, workspacePaths(cache.paths), target, deps.config.caches.maxRepoMb * 2 ** 20);
    const took = `${((Date.now() - started) / 1000).toFixed(2)} s`;
    notes.push(
      hit.kind === 'exact'
        ? `bosun: cache ${key}: hit (${hit.namespace}), restored ${formatBytes(hit.bytes)} in ${took}`
        : `bosun: cache ${key}: partial hit on ${hit.key} (restore key ${hit.prefix}, ${hit.namespace}), restored ${formatBytes(hit.bytes)} in ${took}; saved as ${key} if the stage succeeds`,
    );
  } catch (err) {
    if (err instanceof CodedError && err.retryable) deps.log.warn({ err, key }, 'Restoring a cache failed');
    notes.push(`bosun: cache ${key}: restoring ${hit.key} failed (${err instanceof Error ? err.message : String(err)}); the steps run without it`);
    return { key, scope, exact: false, notes, home };
  }
  return { key, scope, exact, notes, home };
}

/** Saves the stage's paths under the key when it missed; returns the lines for `cache:save`'s log. */
export async function saveStageCache(deps: StageCacheDeps, build: Build, stage: StageRun, workspace: string, state: StageCacheState): Promise<string[]> {
  const cache = stage.cache;
  if (!cache || !deps.files || state.refused) return [];
  if (state.exact) return [`bosun: cache ${state.key}: not saved (it was restored as it is)`];
  const store = cacheStore(deps.config);
  // Another build may have saved it meanwhile (into a namespace this build reads).
  if ((await store.find(build.repo, state.scope.read, state.key, []))?.kind === 'exact')
    return [`bosun: cache ${state.key}: not saved (another build saved it first)`];
  const files = deps.files;
  const paths = workspacePaths(cache.paths);
  const target: WorkspaceTarget = { buildId: build.id, workspace, image: firstImage(stage) };
  const limit = deps.config.caches.maxRepoMb * 2 ** 20;
  const budget = { left: limit, limit };
  const archive = tarPack();
  const lines: string[] = [];
  let found = 0;
  const produce = (async () => {
    await addParentDirectories(archive, paths, files.owner);
    for (const path of paths) {
      const prefix = posix.dirname(path) === '.' ? '' : posix.dirname(path);
      const there = await files.read(target, path, (tar) => copyEntries(tar, archive, { paths, prefix, owner: files.owner, budget }));
      if (there) found += 1;
      else lines.push(`bosun: cache ${state.key}: ${path} does not exist in the workspace`);
    }
    if (found === 0) throw new NothingToSave();
    archive.finalize();
  })();
  produce.catch((err: unknown) => archive.destroy(err as Error));
  const started = Date.now();
  try {
    const [, saved] = await Promise.all([produce, store.save(build.repo, state.scope.write, state.key, archive)]);
    lines.push(`bosun: cache ${state.key}: saved ${formatBytes(saved.bytes)} to ${state.scope.write} in ${((Date.now() - started) / 1000).toFixed(2)} s`);
    if (saved.evicted.length)
      lines.push(`bosun: cache: evicted (least recently used, over the ${formatBytes(limit)} cap of ${build.repo}): ${saved.evicted.join(', ')}`);
  } catch (err) {
    const why = await produce.then(
      () => err,
      (e: unknown) => e,
    );
    if (why instanceof NothingToSave) lines.push(`bosun: cache ${state.key}: not saved: none of its paths exist (${cache.paths.join(', ')})`);
    else if (why instanceof CacheArchiveError) lines.push(`bosun: cache ${state.key}: not saved: ${why.message.replace(/^cache refused: /, '')}`);
    else {
      deps.log.warn({ err: why, key: state.key }, 'Saving a cache failed');
      lines.push(`bosun: cache ${state.key}: not saved: ${why instanceof Error ? why.message : String(why)}`);
    }
  }
  return lines;
}

class NothingToSave extends Error {}

/** Checks the whole archive, then streams it (checked again) into the workspace. */
async function putArchive(
  files: WorkspaceFiles,
  store: CacheStore,
  hit: CacheHit,
  paths: readonly string[],
  target: WorkspaceTarget,
  limit: number,
): Promise<void> {
  await checkEntries(await store.open(hit), paths, limit);
  const source = await store.open(hit);
  const checked = tarPack();
  const copy = copyEntries(source, checked, { paths, prefix: '', owner: files.owner, budget: { left: limit, limit } }).then(() => checked.finalize());
  copy.catch((err: unknown) => checked.destroy(err as Error));
  await Promise.all([copy, files.put(target, checked)]);
}

/** HOME for the steps of a stage caching `~/…` paths: the workspace's `cacheHomeDir` as the executor's steps see it. */
export function cacheHomePath(executor: string, workspace: string): string {
  return executor === 'local' ? join(workspace, cacheHomeDir) : `${workspaceMount}/${cacheHomeDir}`;
}

/** Makes the HOME kept in the workspace (and `.git` above it), owned by the step user. */
async function putHome(files: WorkspaceFiles, target: WorkspaceTarget): Promise<void> {
  const dirs = tarPack();
  const made = addParentDirectories(dirs, [`${cacheHomeDir}/.`], files.owner).then(() => dirs.finalize());
  await Promise.all([made, files.put(target, dirs)]);
}

/** The image the workspace helper is made from: the stage's first step's. */
function firstImage(stage: StageRun): string {
  return stage.steps[0]?.image ?? '';
}

import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { labelKeys } from '../executor/executor.js';
import { engineError, ignoreNotFound, statusCode } from '../executor/container/docker-errors.js';
import { stepUser, workspaceMount } from '../executor/container/isolation.js';
import { buildLabels, workspaceVolumeName } from '../executor/container/resource-names.js';
import { resolveImage } from '../executor/container/resolve-image.js';
import { WorkspaceVolumes } from '../executor/container/workspace-volume.js';
import type { WorkspaceFiles, WorkspaceTarget } from './workspace-files.js';

/**
 * `WorkspaceFiles` over the build's workspace volume (docker executor, and swarm on one node,
 * where the volume is on the engine Bosun talks to). The volume is made and filled from the
 * checkout first if no step has yet (`WorkspaceVolumes.ensure`, which any process may call: the
 * fill is marked complete on the volume, so the executor's own later `ensure` finds it done).
 *
 * Each call creates a helper container from the stage's image, never started, with no network,
 * as the step user, with the volume at /workspace, and uses the engine's archive API on it
 * (`putArchive` / `getArchive`): the engine resolves every path inside the container's own
 * file system, so a symlink a step left in the volume (`.cache -> /etc`) leads into the helper's
 * image, never to the host's files. The helper is removed afterwards; it carries the build's
 * labels and `bosun.role=build`, so a crash's leftover is removed with the volume (`cleanupBuild`).
 */
export class VolumeWorkspaceFiles implements WorkspaceFiles {
  readonly kind = 'volume';
  readonly owner: { uid: number; gid: number };
  readonly #docker: Docker;
  readonly #instanceId: string;
  readonly #volumes: WorkspaceVolumes;

  readonly #keyOf: (buildId: string) => Promise<string>;

  /** `keyOf`: what the build's volume is named after (the executor's `BuildResources`, docs/pool.md); default the build id. */
  constructor(docker: Docker, instanceId: string, keyOf?: (buildId: string) => Promise<string>) {
    this.#docker = docker;
    this.#instanceId = instanceId;
    this.#keyOf = keyOf ?? ((buildId) => Promise.resolve(buildId));
    this.#volumes = new WorkspaceVolumes(docker, instanceId);
    const [uid, gid] = stepUser.split(':').map(Number) as [number, number];
    this.owner = { uid, gid };
  }

  async put(target: WorkspaceTarget, tar: NodeJS.ReadableStream): Promise<void> {
    await this.#withHelper(target, 'restore', async (helper) => {
      try {
        await helper.putArchive(tar, { path: workspaceMount });
      } catch (err) {
        throw engineError(`could not restore the cache into the workspace of build ${target.buildId}`, err);
      }
    });
  }

  async read(target: WorkspaceTarget, path: string, consume: (tar: NodeJS.ReadableStream) => Promise<void>): Promise<boolean> {
    // Saving reads what the steps left: a volume that does not exist holds nothing (it is never made here).
    const volume = this.#docker.getVolume(workspaceVolumeName(this.#instanceId, await this.#keyOf(target.buildId)));
    if (
      !(await volume.inspect().then(
        () => true,
        (err: unknown) => (statusCode(err) === 404 ? false : Promise.reject(engineError('could not inspect the workspace volume', err))),
      ))
    )
      return false;
    return this.#withHelper(target, 'save', async (helper) => {
      let stream: NodeJS.ReadableStream;
      try {
        stream = (await helper.getArchive({ path: `${workspaceMount}/${path}` })) as NodeJS.ReadableStream;
      } catch (err) {
        if (statusCode(err) === 404) return false;
        throw engineError(`could not read ${path} from the workspace of build ${target.buildId}`, err);
      }
      await consume(stream);
      return true;
    });
  }

  async #withHelper<T>(target: WorkspaceTarget, role: string, use: (helper: Docker.Container) => Promise<T>): Promise<T> {
    const imageId = await resolveImage(this.#docker, target.image);
    const volume = await this.#volumes.ensure(await this.#keyOf(target.buildId), target.workspace, imageId, target.buildId);
    const labels = { ...buildLabels(target.buildId, this.#instanceId), [labelKeys.stage]: role };
    let helper: Docker.Container;
    try {
      helper = await this.#docker.createContainer({
        name: `bosun-${this.#instanceId}-cache-${role}-${target.buildId}-${randomBytes(3).toString('hex')}`
          .toLowerCase()
          .replace(/[^a-z0-9_.-]/g, '-')
          .slice(0, 63),
        Image: imageId,
        Entrypoint: ['/bin/sh'],
        Cmd: ['-c', 'true'],
        User: stepUser,
        NetworkDisabled: true,
        Labels: labels,
        HostConfig: { Mounts: [{ Type: 'volume', Source: volume, Target: workspaceMount }] },
      });
    } catch (err) {
      throw engineError(`could not create the cache helper of build ${target.buildId}`, err);
    }
    try {
      return await use(helper);
    } finally {
      await ignoreNotFound(() => helper.remove({ force: true })).catch(() => undefined);
    }
  }
}

import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { labelKeys } from '../executor.js';
import { buildLabels, workspaceFillName, workspaceMarkerName, workspaceVolumeName } from './resource-names.js';
import { engineError, ignoreNotFound, retryWhileConflict, statusCode } from './docker-errors.js';
import { stepUser, workspaceMount } from './isolation.js';
import { tarWorkspace } from './tar-workspace.js';
import { fillHostVolume, hostVolumeDirectory } from './host-volume-fill.js';

/**
 * The build's workspace as a named volume, `bosun-<instance>-ws-<buildId>`, shared by its steps: the
 * host checkout is never bind-mounted (R15). It is filled once per build by copying the host
 * workspace into it, files owned by the step user, `workspaceReadyFile` last. Two ways:
 * - direct (`fill: 'auto'`, when Bosun runs as root on the engine's host and the volume is a
 *   plain local one): copied into the volume's directory (`fillHostVolume`); its ready file
 *   marks it complete.
 * - helper (otherwise, or `fill: 'helper'`): an in-process tar of the directory, streamed to
 *   `putArchive` of a created, never started helper container that mounts the volume. The
 *   helper is created as `bosun-wsfill-<buildId>` and renamed to `bosun-<instance>-wsready-<buildId>`
 *   once the copy succeeded; that name marks the volume as complete. A crash mid-copy leaves no
 *   marker, so the next step replaces the stale helper and copies again (over the partial copy).
 *
 * In-process callers share one fill.
 * `remove` deletes the volume, and the marker and any helper when they hold it (waiting while
 * a step still uses it).
 *
 * Swarm on one node: the volume is local to the manager, where the steps run. Several nodes
 * would need the volume on each node the build's steps land on (see the swarm executor).
 */
/**
 * Written last into a filled volume, inside `.git` (git ignores it; `git status` stays clean).
 * A step started while the fill runs waits for it (see `stepScript`'s `waitFor`).
 */
export const workspaceReadyFile = '.git/bosun-workspace-ready';

export class WorkspaceVolumes {
  readonly #docker: Docker;
  readonly #instanceId: string;
  readonly #pending = new Map<string, Promise<string>>();
  readonly #fresh = new Map<string, Promise<boolean>>();
  readonly #mode: 'auto' | 'helper';

  constructor(docker: Docker, instanceId: string, opts: { fill?: 'auto' | 'helper' } = {}) {
    this.#docker = docker;
    this.#instanceId = instanceId;
    this.#mode = opts.fill ?? 'auto';
  }

  /**
   * The volume's name, filled from `workspace` the first time. `imageId` serves the helper.
   * `buildId` names the volume: the build's own id, or the key of the pool entry it claimed
   * (docs/pool.md), whose volume then belongs to build `owner` (the labels of the marker and helper).
   */
  ensure(buildId: string, workspace: string, imageId: string, owner = buildId): Promise<string> {
    let pending = this.#pending.get(buildId);
    if (!pending) {
      let fresh: (value: boolean) => void = () => undefined;
      this.#fresh.set(buildId, new Promise<boolean>((resolve) => (fresh = resolve)));
      pending = this.#fill(buildId, workspace, imageId, fresh, owner);
      this.#pending.set(buildId, pending);
      pending
        .catch(() => this.#pending.delete(buildId))
        .finally(() => {
          fresh(false);
          this.#fresh.delete(buildId);
        });
    }
    return pending;
  }

  /**
   * True once this process's fill has created the (empty) volume and is still copying into
   * it: a step may then be created at once if it waits for `workspaceReadyFile`. False when
   * the fill is over, the volume was already complete (filled by another process, perhaps
   * before that file existed) or the fill failed; then wait for `ensure`.
   */
  startedFresh(buildId: string): Promise<boolean> {
    return this.#fresh.get(buildId) ?? Promise.resolve(false);
  }

  /** Removes the volume named after `buildId` (a build's id or a pool key; `owner` as for `ensure`). */
  async remove(buildId: string, owner = buildId): Promise<void> {
    this.#pending.delete(buildId);
    this.#fresh.delete(buildId);
    const volume = this.#docker.getVolume(workspaceVolumeName(this.#instanceId, buildId));
    // The volume alone first (one call after a direct fill). The engine refuses to remove a
    // volume any container still references, so a marker or helper exists only if this fails.
    try {
      await ignoreNotFound(() => volume.remove());
      return;
    } catch (err) {
      // In use (409; some engine versions answer 403 or 500, as retryWhileConflict knows).
      if (![409, 403, 500].includes(statusCode(err) ?? 0)) throw err;
    }
    await ignoreNotFound(() => this.#docker.getContainer(workspaceMarkerName(this.#instanceId, buildId)).remove({ force: true }));
    // A fill helper left by a crash mid-copy would hold the volume.
    const helpers = await this.#docker.listContainers({ all: true, filters: JSON.stringify({ label: [`${labelKeys.build}=${owner}`, 'bosun.role=build'] }) });
    for (const helper of helpers) await ignoreNotFound(() => this.#docker.getContainer(helper.Id).remove({ force: true }));
    await retryWhileConflict(() => ignoreNotFound(() => volume.remove()));
  }

  async #fill(buildId: string, workspace: string, imageId: string, fresh: (value: boolean) => void, owner: string): Promise<string> {
    const volume = workspaceVolumeName(this.#instanceId, buildId);
    const marker = workspaceMarkerName(this.#instanceId, buildId);
    const labels = buildLabels(owner, this.#instanceId);
    try {
      // A pool entry's volume exists already (with its own labels, which this leaves as they are).
      const created = await this.#docker.createVolume({ Name: volume, Labels: buildLabels(buildId, this.#instanceId) });
      const data = this.#mode === 'auto' ? await hostVolumeDirectory(created) : undefined;
      if (data) {
        if (
          await stat(join(data, workspaceReadyFile)).then(
            () => true,
            () => false,
          )
        )
          return volume;
        fresh(true);
        await fillHostVolume(workspace, data, workspaceReadyFile);
        return volume;
      }
      if (await this.#exists(marker)) return volume;
      fresh(true);
      const helper = await this.#createHelper(workspaceFillName(this.#instanceId, buildId), imageId, volume, labels);
      try {
        await helper.putArchive(tarWorkspace(workspace, undefined, workspaceReadyFile), { path: workspaceMount });
        await helper.rename({ name: marker });
      } catch (err) {
        await ignoreNotFound(() => helper.remove({ force: true }));
        if (statusCode(err) !== 409) throw err;
      }
      return volume;
    } catch (err) {
      throw engineError(`could not prepare the workspace volume ${volume}`, err);
    }
  }

  /** The fill helper (created, never started); a stale one from a crash is replaced. */
  async #createHelper(name: string, imageId: string, volume: string, labels: Record<string, string>): Promise<Docker.Container> {
    const options = {
      name,
      Image: imageId,
      Entrypoint: ['/bin/sh'],
      Cmd: ['-c', 'true'],
      User: stepUser,
      NetworkDisabled: true,
      Labels: labels,
      HostConfig: { Mounts: [{ Type: 'volume' as const, Source: volume, Target: workspaceMount }] },
    };
    try {
      return await this.#docker.createContainer(options);
    } catch (err) {
      if (statusCode(err) !== 409) throw err;
      await ignoreNotFound(() => this.#docker.getContainer(name).remove({ force: true }));
      return this.#docker.createContainer(options);
    }
  }

  async #exists(container: string): Promise<boolean> {
    try {
      await this.#docker.getContainer(container).inspect();
      return true;
    } catch (err) {
      if (statusCode(err) === 404) return false;
      throw err;
    }
  }
}

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { engineError, ignoreNotFound } from '../container/docker-errors.js';
import { workspaceMount } from '../container/isolation.js';
import { tarWorkspace } from '../container/tar-workspace.js';
import { buildLabels } from '../container/resource-names.js';
import type { Logger } from '../../logger.js';

/**
 * Multi-node workspaces: the build's checkout travels to every node as an image layer.
 *
 * For each (build, step image) Bosun commits an image = the step image + the checkout at
 * `/workspace` (files owned by the step user), pushes it to the registry every node pulls
 * from, and runs the step from it by digest (`<registry>/bosun-workspace@sha256:…`; never a
 * tag, never an image loaded on a node by hand). The step mounts the build's workspace volume
 * at `/workspace`: on a node where that volume does not exist yet, Docker creates it and
 * copies the image's `/workspace` into it, so the first step of the build on a node gets the
 * checkout and later steps there share what it wrote. The step image itself reaches the
 * registry as the lower layers of this one.
 *
 * Committed images carry `bosun.build` labels. `remove` drops the local tag and, best effort,
 * the registry manifest; images pulled by other nodes stay there until pruned
 * (`docker image prune -a --filter label=bosun.managed=true` on the nodes).
 */
export class WorkspaceImages {
  readonly #docker: Docker;
  readonly #registry: string;
  readonly #instanceId: string;
  readonly #log: Logger;
  readonly #pending = new Map<string, Promise<string>>();
  readonly #pushed = new Map<string, Set<string>>();

  constructor(docker: Docker, registry: string, instanceId: string, log: Logger) {
    this.#docker = docker;
    this.#registry = registry;
    this.#instanceId = instanceId;
    this.#log = log;
  }

  get repository(): string {
    return `${this.#registry}/bosun-workspace`;
  }

  /**
   * The digest reference of `imageId` + the build's checkout (made and pushed once per content:
   * when a stage brought needed artifacts into the checkout, `.git/bosun-inputs` changed and a
   * new image is made for the steps from then on).
   */
  ensure(buildId: string, workspace: string, imageId: string): Promise<string> {
    const inputs = readInputs(workspace);
    const key = `${buildId}\n${imageId}\n${inputs}`;
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = this.#make(buildId, workspace, imageId, inputs);
      this.#pending.set(key, pending);
      pending.catch(() => this.#pending.delete(key));
    }
    return pending;
  }

  /**
   * The digest reference of `imageId` itself (no checkout), pushed like a workspace image and
   * removed with the build's: how a stage's service image reaches whatever node runs it.
   */
  plain(buildId: string, imageId: string): Promise<string> {
    const key = `${buildId}\n${imageId}\nplain`;
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = this.#make(buildId, undefined, imageId, 'plain');
      this.#pending.set(key, pending);
      pending.catch(() => this.#pending.delete(key));
    }
    return pending;
  }

  /** Remove the build's workspace images here and from the registry (best effort). */
  async remove(buildId: string): Promise<void> {
    for (const key of [...this.#pending.keys()]) if (key.startsWith(`${buildId}\n`)) this.#pending.delete(key);
    const digests = this.#pushed.get(buildId) ?? new Set<string>();
    this.#pushed.delete(buildId);
    const images = await this.#docker.listImages({
      filters: JSON.stringify({ label: [`bosun.build=${buildId}`, `bosun.instance=${this.#instanceId}`, 'bosun.role=workspace'] }),
    });
    for (const image of images) {
      for (const digest of image.RepoDigests ?? []) if (digest.startsWith(`${this.repository}@`)) digests.add(digest.slice(this.repository.length + 1));
      await ignoreNotFound(() => this.#docker.getImage(image.Id).remove({ force: true })).catch((err: unknown) =>
        this.#log.warn({ err, buildId, image: image.Id }, 'Could not remove a workspace image'),
      );
    }
    for (const digest of digests) await this.#deleteManifest(digest);
  }

  async #make(buildId: string, workspace: string | undefined, imageId: string, inputs: string): Promise<string> {
    const tag = `${this.#instanceId}-b${buildId}-${imageId.replace(/^sha256:/, '').slice(0, 12)}${inputs === 'plain' ? '-plain' : inputs ? `-i${inputs.slice(0, 12)}` : ''}`;
    const labels = { ...buildLabels(buildId, this.#instanceId), 'bosun.role': 'workspace' };
    let container: Docker.Container | undefined;
    try {
      container = await this.#docker.createContainer({ Image: imageId, NetworkDisabled: true, Labels: labels });
      if (workspace !== undefined) await container.putArchive(tarWorkspace(workspace, workspaceMount.replace(/^\//, '')), { path: '/' });
      const changes = Object.entries(labels).map(([k, v]) => `LABEL ${k}=${JSON.stringify(v)}`);
      await container.commit({ repo: this.repository, tag, changes, pause: false });
    } catch (err) {
      throw engineError(`could not make the workspace image of build ${buildId}`, err);
    } finally {
      if (container) await ignoreNotFound(() => container!.remove({ force: true })).catch(() => undefined);
    }
    const digest = await this.#push(`${this.repository}:${tag}`);
    let pushed = this.#pushed.get(buildId);
    if (!pushed) this.#pushed.set(buildId, (pushed = new Set()));
    pushed.add(digest);
    return `${this.repository}@${digest}`;
  }

  /** Push `ref` and return the manifest digest the registry reported. */
  async #push(ref: string): Promise<string> {
    try {
      const stream = await this.#docker.getImage(ref).push({ authconfig: {} });
      const events = await new Promise<PushEvent[]>((resolve, reject) => {
        this.#docker.modem.followProgress(stream, (err: Error | null, out: PushEvent[]) => (err ? reject(err) : resolve(out)));
      });
      const failed = events.find((e) => e.error);
      if (failed) throw new Error(failed.error);
      const digest = events.map((e) => e.aux?.Digest).find((d): d is string => typeof d === 'string');
      if (!digest) throw new Error('the registry reported no digest');
      return digest;
    } catch (err) {
      throw engineError(`could not push ${ref} to ${this.#registry}`, err);
    }
  }

  async #deleteManifest(digest: string): Promise<void> {
    const url = `http://${this.#registry}/v2/bosun-workspace/manifests/${digest}`;
    try {
      const res = await fetch(url, { method: 'DELETE', signal: AbortSignal.timeout(5000) });
      if (res.status !== 202 && res.status !== 404) this.#log.warn({ url, status: res.status }, 'The registry kept a workspace image');
    } catch (err) {
      this.#log.warn({ err, url }, 'Could not delete a workspace image from the registry');
    }
  }
}

/** The hash `bringNeeds` wrote into the checkout (`.git/bosun-inputs`), or '' when none. */
function readInputs(workspace: string): string {
  try {
    return readFileSync(join(workspace, '.git', 'bosun-inputs'), 'utf8')
      .replace(/[^0-9a-f]/g, '')
      .slice(0, 64);
  } catch {
    return '';
  }
}

interface PushEvent {
  error?: string;
  aux?: { Digest?: string };
}

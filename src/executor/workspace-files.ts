import { lstatSync } from 'node:fs';
import { relative, sep } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import type Docker from 'dockerode';
import { pack } from 'tar-fs';
import type { StepNode } from './executor.js';
import { Demuxer } from './container/demuxer.js';
import { engineError, ignoreNotFound } from './container/docker-errors.js';
import { hostVolumeDirectory } from './container/host-volume-fill.js';
import { stepUser, workspaceMount } from './container/isolation.js';
import { buildLabels, workspaceVolumeName } from './container/resource-names.js';
import { terminalStates, toSwarmTask } from './swarm/swarm-task.js';

/**
 * Copying files OUT of a build's workspace on whichever executor ran its steps (artifacts and
 * test reports; a cache save needs the same). The way IN is the host workspace
 * (`<dataDir>/workspaces/<build>`): the local executor runs steps in it, container executors
 * fill the build's volume from it, and a multi-node swarm ships it as an image layer (so
 * what is put there before a stage's first step reaches that stage wherever it runs; see
 * `WorkspaceImages`).
 *
 * `readWorkspace` returns a tar stream of the workspace as the build's steps left it (the
 * volume, for container executors), entries workspace-relative (`dist/app.whl`). It lists
 * symlinks as symlinks (never followed) and walks only the directories `wants` accepts,
 * sending only the files it accepts (an executor that cannot filter where the files are may
 * send more; the reader filters again). `.git` is never sent.
 */
export interface WorkspaceRead {
  buildId: string;
  /** The host workspace (the step's `StepSpec.workspace`). */
  workspace: string;
  /** The image the step ran from (container executors run helpers from it). */
  image: string;
  /** Where the step ran (multi-node swarm); absent = this host. */
  node?: StepNode;
  /** Whether to send the file (`dir` false) or walk the directory (`dir` true) at a workspace-relative path. */
  wants(path: string, dir: boolean): boolean;
  /**
   * A route that cannot filter where the files are and must buffer (another swarm node) fails
   * with a clear error rather than read more than this many bytes (default 1 GiB).
   */
  maxBytes?: number;
  /** Files larger than this need not be sent; a route that skips them lists them in `WorkspaceTar.oversized`. */
  maxFileBytes?: number;
}

/** A tar of workspace files; with `prefix`, every entry sits under that directory (`workspace/…`) and is re-rooted by the reader. */
export interface WorkspaceTar {
  stream: Readable;
  prefix?: string;
  /** Wanted files over `WorkspaceRead.maxFileBytes` left out of the tar (complete once `stream` ended). */
  oversized?: { path: string; size: number }[];
}

/**
 * A tar of a directory on this host, filtered by `wants`; symlinks stay symlinks (lstat). Wanted
 * files over `maxFileBytes` are never read: they are listed in `oversized` instead.
 */
export function hostDirectoryTar(dir: string, wants: WorkspaceRead['wants'], maxFileBytes?: number): WorkspaceTar {
  const oversized: { path: string; size: number }[] = [];
  const stream = pack(dir, {
    dereference: false,
    ignore: (name: string) => {
      const rel = relative(dir, name).split(sep).join('/');
      if (rel === '') return false;
      if (rel === '.git' || rel.startsWith('.git/')) return true;
      let info;
      try {
        info = lstatSync(name);
      } catch {
        return true;
      }
      if (!wants(rel, info.isDirectory())) return true;
      if (info.isFile() && maxFileBytes !== undefined && info.size > maxFileBytes) {
        oversized.push({ path: rel, size: info.size });
        return true;
      }
      return false;
    },
  }) as unknown as Readable;
  return { stream, oversized };
}

/**
 * The build's workspace volume on this engine: read directly when Bosun runs as root on the
 * engine's host (its `Mountpoint`), else through a created, never started helper container
 * (the step's image, the volume mounted read-only, no network) and `getArchive`, whose entries
 * are re-rooted (`workspace/dist/x` → `dist/x`) by the reader (`prefix`).
 */
export async function volumeTar(docker: Docker, instanceId: string, req: WorkspaceRead, opts: { direct?: boolean; key?: string } = {}): Promise<WorkspaceTar> {
  // `key`: what the volume is named after when the build claimed a warm sandbox (docs/pool.md).
  const volumeName = workspaceVolumeName(instanceId, opts.key ?? req.buildId);
  const volume = docker.getVolume(volumeName);
  try {
    const dir = opts.direct === false ? undefined : await hostVolumeDirectory(volume);
    if (dir) return hostDirectoryTar(dir, req.wants, req.maxFileBytes);
    const helper = await docker.createContainer({
      Image: req.image,
      Entrypoint: ['/bin/sh'],
      Cmd: ['-c', 'true'],
      User: stepUser,
      NetworkDisabled: true,
      Labels: { ...buildLabels(req.buildId, instanceId), 'bosun.role': 'collect' },
      HostConfig: { Mounts: [{ Type: 'volume', Source: volumeName, Target: workspaceMount, ReadOnly: true }] },
    });
    let archive: NodeJS.ReadableStream;
    try {
      archive = await helper.getArchive({ path: workspaceMount });
    } catch (err) {
      await ignoreNotFound(() => helper.remove({ force: true })).catch(() => undefined);
      throw err;
    }
    const out = new PassThrough();
    const done = (): void => void ignoreNotFound(() => helper.remove({ force: true })).catch(() => undefined);
    archive.on('error', (err) => out.destroy(err));
    (archive as Readable).pipe(out);
    out.once('close', done);
    out.once('end', done);
    return { stream: out, prefix: workspaceMount.slice(1) };
  } catch (err) {
    throw engineError(`could not read the workspace of build ${req.buildId}`, err);
  }
}

/**
 * The build's workspace volume on another swarm node, where the manager's API reaches no
 * volume: a one-shot service pinned to that node, from the step's image (which must have
 * `tar` and `base64`, as Debian-, Alpine- and busybox-based images do), mounting the volume
 * read-only, with no network, writes `tar | base64` to its log; Bosun reads the log through the
 * manager once the task completed and decodes it. The service is removed afterwards. It sends
 * the whole workspace (minus `.git`) and buffers it, so it stops past `req.maxBytes` with an error.
 */
export async function remoteVolumeTar(docker: Docker, instanceId: string, req: WorkspaceRead & { node: StepNode }, timeoutMs = 120_000): Promise<Readable> {
  const limit = req.maxBytes ?? 1024 ** 3;
  const labels = { ...buildLabels(req.buildId, instanceId), 'bosun.role': 'collect' };
  let service: Docker.Service | undefined;
  try {
    const created = (await docker.createService({
      Name: `bosun-${instanceId}-collect-${req.buildId}-${Date.now().toString(36)}`
        .toLowerCase()
        .replace(/[^a-z0-9-]/g, '-')
        .slice(0, 63),
      Labels: labels,
      TaskTemplate: {
        ContainerSpec: {
          Image: req.image,
          Labels: labels,
          Command: ['/bin/sh', '-c', `cd ${workspaceMount} && tar -cf - --exclude=./.git . | head -c ${limit + 1} | base64`],
          User: stepUser,
          ReadOnly: true,
          CapabilityDrop: ['ALL'],
          Mounts: [
            {
              Type: 'volume',
              Source: workspaceVolumeName(instanceId, req.buildId),
              Target: workspaceMount,
              ReadOnly: true,
              VolumeOptions: { NoCopy: true, Labels: labels, DriverConfig: { Name: 'local', Options: {} } },
            },
          ],
        },
        RestartPolicy: { Condition: 'none', MaxAttempts: 0 },
        Placement: { Constraints: [`node.id==${req.node.id}`] },
        LogDriver: { Name: 'json-file' },
      },
      Mode: { Replicated: { Replicas: 1 } },
    })) as { id?: string; ID?: string };
    service = docker.getService(created.id ?? created.ID ?? '');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const tasks = ((await docker.listTasks({ filters: JSON.stringify({ service: [service.id] }) })) as unknown[]).map(toSwarmTask);
      const task = tasks[0];
      const state = task?.Status.State;
      if (state && terminalStates.has(state)) {
        if (state !== 'complete')
          throw new Error(`the collecting task ended ${state}${task?.Status.Err ? `: ${task.Status.Err}` : ''} (does the image have tar and base64?)`);
        break;
      }
      if (Date.now() > deadline) throw new Error(`no result within ${timeoutMs} ms (task ${state ?? 'not scheduled'})`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const raw = await service.logs({ follow: false, stdout: true, stderr: false } as Docker.ContainerLogsOptions);
    const muxed = Buffer.isBuffer(raw) ? raw : await collect(raw as unknown as NodeJS.ReadableStream);
    const parts: Buffer[] = [];
    new Demuxer((stream, data) => stream === 'stdout' && parts.push(data)).write(muxed);
    const tar = Buffer.from(
      Buffer.concat(parts)
        .toString('latin1')
        .replace(/[^A-Za-z0-9+/=]/g, ''),
      'base64',
    );
    if (tar.length > limit)
      throw new Error(`the workspace there is larger than ${limit} bytes, more than this route reads (artifacts.maxBuildBytes); keep fewer or smaller files`);
    return Readable.from([tar]);
  } catch (err) {
    throw engineError(`could not read the workspace of build ${req.buildId} on node ${req.node.hostname || req.node.id}`, err);
  } finally {
    if (service) await ignoreNotFound(() => service!.remove()).catch(() => undefined);
  }
}

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
}

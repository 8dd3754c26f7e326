import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Build } from '../../src/domain/build.js';
import type { DockerPublication } from '../../src/domain/publication.js';
import type { BuildStore } from '../../src/storage/build-store.js';
import { freePort } from './redis-server.js';

const run = promisify(execFile);

/** A Docker Distribution registry (Debian `docker-registry`) on 127.0.0.1, plain HTTP (127.0.0.0/8 is an insecure registry by default). */
export interface LocalRegistry {
  host: string;
  stop(): Promise<void>;
}

export async function startLocalRegistry(): Promise<LocalRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'bosun-registry-'));
  const port = await freePort();
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log: { level: error }',
      `storage: { filesystem: { rootdirectory: ${join(dir, 'data')} }, delete: { enabled: true } }`,
      `http: { addr: 127.0.0.1:${port} }`,
      '',
    ].join('\n'),
  );
  const proc: ChildProcess = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
  const host = `127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ok = await fetch(`http://${host}/v2/`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline || proc.exitCode !== null) {
      proc.kill('SIGKILL');
      throw new Error(`docker-registry did not start on ${host}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host,
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 100));
      if (proc.exitCode === null) proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Builds a tiny image from `bosun/busybox:1` (a long sleep; a HEALTHCHECK that passes, or
 * fails when `healthy: false`), pushes it to the registry and returns the publication as
 * Bosun records it: the pushed manifest's digest, `image@digest` as the ref.
 */
export async function publishImage(
  registry: LocalRegistry,
  name: string,
  opts: { tag: string; healthy?: boolean; stage?: string },
): Promise<DockerPublication> {
  const dir = mkdtempSync(join(tmpdir(), 'bosun-image-'));
  const image = `${registry.host}/${name}`;
  try {
    writeFileSync(
      join(dir, 'Dockerfile'),
      [
        'FROM bosun/busybox:1',
        `LABEL bosun.test.marker="${opts.tag}"`,
        `HEALTHCHECK --interval=1s --timeout=2s --retries=2 CMD ["sh", "-c", "exit ${opts.healthy === false ? 1 : 0}"]`,
        'CMD ["sleep", "100000"]',
        '',
      ].join('\n'),
    );
    await run('docker', ['build', '-q', '-t', `${image}:${opts.tag}`, dir], { timeout: 120_000 });
    const { stdout } = await run('docker', ['push', `${image}:${opts.tag}`], { timeout: 120_000 });
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(stdout)?.[1];
    if (!digest) throw new Error(`no digest in docker push output: ${stdout}`);
    return { kind: 'docker', stage: opts.stage ?? 'publish', image, tag: opts.tag, digest, ref: `${image}@${digest}`, publishedAt: new Date().toISOString() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A finished build record of `repo` at `sha` (the given stages green), made through the build
 * store. With `publication`, the build carries it when it is written, and with `announce`, its
 * `build.status` event goes on the stream (what subscribers such as auto-deploy react to).
 */
export async function recordBuild(
  store: BuildStore,
  input: {
    repo: string;
    sha: string;
    ref?: string;
    stages?: string[];
    status?: Build['status'];
    event?: 'push' | 'manual';
    publication?: DockerPublication;
    announce?: boolean;
  },
): Promise<Build> {
  const id = await store.nextId();
  const now = new Date().toISOString();
  const build: Build = {
    id,
    repo: input.repo,
    ref: input.ref ?? 'master',
    sha: input.sha,
    status: input.status ?? 'success',
    attempt: 1,
    version: 0,
    createdAt: now,
    finishedAt: now,
    trigger: { event: input.event ?? 'push', source: 'github', actor: { id: 'github:1', name: 'dev' } },
    stages: (input.stages ?? ['test']).map((name) => ({ name, status: 'success', needs: [], labels: [], resources: [], steps: [] })),
    ...(input.publication ? { published: [input.publication] } : {}),
  };
  await store.create(build, input.announce ? [{ type: 'build.status', buildId: id, status: build.status, previous: 'running' }] : []);
  return build;
}

/** Writes a publication onto a build record, as `publish:` does, through the build store. */
export async function recordPublication(store: BuildStore, buildId: string, pub: DockerPublication): Promise<Build> {
  const { build } = await store.update(buildId, (b) => {
    b.published = [...(b.published ?? []), pub];
    return [];
  });
  return build;
}

/** Removes the local tags `publishImage` made (the registry's copies go with the registry). */
export async function removePublishedImages(pubs: (DockerPublication | undefined)[]): Promise<void> {
  const tags = pubs.filter((p): p is DockerPublication => p !== undefined).map((p) => `${p.image}:${p.tag}`);
  if (tags.length > 0) await run('docker', ['rmi', '-f', ...tags], { timeout: 60_000 }).catch(() => undefined);
}

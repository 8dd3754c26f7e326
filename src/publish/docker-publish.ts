import { lstatSync } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type Docker from 'dockerode';
import dockerignoreModule from '@balena/dockerignore';
import { pack } from 'tar-fs';

// A CommonJS module whose types declare an ES default export: the function is `default` on
// what Node hands ESM (it sets `factory.default = factory` for this).
const dockerignore = dockerignoreModule.default;
import { PublishError } from './publish-error.js';

/** The engine calls publishing an image makes (dockerode's, narrowed for fakes and tests). */
export type PublishEngine = Pick<Docker, 'buildImage' | 'getImage' | 'modem'>;

export interface DockerPublishInput {
  engine: PublishEngine;
  /** The build's checkout on this host. */
  workspace: string;
  /** `registry.example/acme/api` (no tag). */
  image: string;
  /** Relative to the workspace. */
  context: string;
  /** Relative to the context. */
  dockerfile: string;
  /** The commit: the tag pushed. */
  sha: string;
  registry: { host: string; username: string; password: string };
  /** Ceilings for the image build's RUN instructions (the server's step limits). */
  limits: { cpus: number; memoryMb: number };
  signal: AbortSignal;
  /** The build's output, line by line, for the stage's `publish` log. */
  onLine(line: string): void;
}

export interface DockerPublishResult {
  tag: string;
  digest: string;
  /** The tag was already in the registry (pushed by an earlier run for this commit): nothing built or pushed. */
  alreadyPublished: boolean;
}

/**
 * Builds `image:<sha>` from the workspace through the engine API and pushes it with Bosun's
 * credentials for the registry, returning the digest the registry reported. Never a step's act.
 *
 * - Idempotent per commit: when `image:<sha>` is already in the registry, its digest is returned
 *   and nothing is built or pushed (the first publish of a commit wins; a rebuild never moves it).
 * - Isolated: the build context is a tar of the context directory (never the host's files,
 *   never `.git`), less what the context's `.dockerignore` excludes, with Docker's own rules
 *   (`@balena/dockerignore`, a port of Docker's matcher; the Dockerfile and `.dockerignore`
 *   are always sent, as `docker build` does); RUN instructions get `networkmode: none` (no network at all: no host network,
 *   no build network, no registry), no build args and no secrets, and the server's CPU and
 *   memory limits. Base images (`FROM`) come from the engine's local images; they are not pulled.
 * - Credentials go per call (`X-Registry-Auth`), never into the engine's `docker login` state.
 */
export async function publishImage(input: DockerPublishInput): Promise<DockerPublishResult> {
  const { engine, image, sha, registry } = input;
  const tag = sha;
  const ref = `${image}:${tag}`;
  const authconfig = { username: registry.username, password: registry.password, serveraddress: registry.host };

  const existing = await registryDigest(engine, ref, authconfig, registry.host);
  if (existing) {
    input.onLine(`bosun: ${ref} is already in ${registry.host} as ${existing}; nothing to build or push`);
    return { tag, digest: existing, alreadyPublished: true };
  }

  const context = await contextDir(input.workspace, input.context, input.dockerfile);
  const ignored = await contextIgnore(context, input.dockerfile);
  input.onLine(`bosun: building ${ref} from ${input.context === '.' ? 'the repository root' : input.context}/ with ${input.dockerfile} (network: none)`);
  if (ignored.patterns > 0) input.onLine(`bosun: .dockerignore: ${ignored.patterns} pattern(s) leave files out of the build context`);
  const memory = input.limits.memoryMb * 1024 * 1024;
  let buildStream: NodeJS.ReadableStream;
  try {
    buildStream = await engine.buildImage(pack(context, { ignore: ignored.ignores }), {
      t: ref,
      dockerfile: input.dockerfile,
      networkmode: 'none',
      rm: true,
      forcerm: true,
      pull: false,
      memory,
      memswap: memory,
      cpuperiod: 100_000,
      cpuquota: Math.round(input.limits.cpus * 100_000),
      labels: { 'org.opencontainers.image.revision': sha },
      abortSignal: input.signal,
    } as Docker.ImageBuildOptions);
  } catch (err) {
    throw new PublishError(`the engine refused to build ${ref}: ${messageOf(err)}`, { cause: err });
  }
  const built = await follow(engine, buildStream, (event) => {
    if (typeof event.stream === 'string') for (const line of event.stream.split('\n')) if (line.trim()) input.onLine(line);
  });
  if (built.error) throw new PublishError(`building ${ref} failed: ${built.error}`);
  input.onLine(`bosun: pushing ${ref} to ${registry.host}`);

  let pushStream: NodeJS.ReadableStream;
  try {
    pushStream = await engine.getImage(ref).push({ authconfig, tag, abortSignal: input.signal } as { authconfig: typeof authconfig; tag: string });
  } catch (err) {
    throw new PublishError(`pushing ${ref} to registry ${registry.host} failed: ${registryReason(messageOf(err))}`, { cause: err });
  }
  let digest = '';
  const pushed = await follow(engine, pushStream, (event) => {
    const aux = event.aux as { Digest?: unknown } | undefined;
    if (typeof aux?.Digest === 'string') digest = aux.Digest;
  });
  if (pushed.error) throw new PublishError(`pushing ${ref} to registry ${registry.host} failed: ${registryReason(pushed.error)}`);
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new PublishError(`registry ${registry.host} reported no digest for ${ref}`);
  input.onLine(`bosun: pushed ${image}@${digest}`);
  return { tag, digest, alreadyPublished: false };
}

/** The digest the registry serves for `ref`, or undefined when it has no such tag. */
async function registryDigest(engine: PublishEngine, ref: string, authconfig: object, host: string): Promise<string | undefined> {
  try {
    const info = (await engine.getImage(ref).distribution({ authconfig })) as { Descriptor?: { digest?: string } };
    return info.Descriptor?.digest;
  } catch (err) {
    const status = (err as { statusCode?: number }).statusCode;
    const message = messageOf(err);
    if (status === 404 || /manifest unknown|not found/i.test(message)) return undefined;
    throw new PublishError(`registry ${host}: ${registryReason(message)}`, { cause: err });
  }
}

/** The engine's words about a registry, with the usual causes said plainly. */
function registryReason(message: string): string {
  const text = message.replace(/^\(HTTP code \d+\)\s*(server error|unexpected)?\s*-\s*/, '').trim();
  if (/no basic auth credentials|unauthorized|authentication required|401/i.test(text))
    return `authentication refused (check publish.docker.registries username and password): ${text}`;
  if (/connection refused|no such host|i\/o timeout|dial tcp|context deadline/i.test(text)) return `unreachable: ${text}`;
  if (/x509|certificate/i.test(text)) return `TLS certificate not trusted by the engine (put its CA in /etc/docker/certs.d/<host>/ca.crt): ${text}`;
  return text;
}

interface ProgressEvent {
  stream?: unknown;
  error?: unknown;
  errorDetail?: { message?: unknown };
  aux?: unknown;
}

/** Reads an engine progress stream to its end; the first `error` event is the outcome. */
function follow(engine: PublishEngine, stream: NodeJS.ReadableStream, onEvent: (event: ProgressEvent) => void): Promise<{ error?: string }> {
  return new Promise((resolve) => {
    let error: string | undefined;
    engine.modem.followProgress(
      stream,
      (err: Error | null) => {
        if (err && !error) error = err.message;
        resolve(error ? { error } : {});
      },
      (event: ProgressEvent) => {
        if (event.error !== undefined && !error) error = String(event.errorDetail?.message ?? event.error).trim();
        onEvent(event);
      },
    );
  });
}

/**
 * What the tar of the context leaves out: `.git`, and what the context's `.dockerignore`
 * excludes (Docker's syntax and matching; the Dockerfile and `.dockerignore` stay, as Docker
 * sends them anyway). An excluded directory is skipped whole unless a `!` pattern may bring
 * something inside it back; then its files are matched one by one.
 */
async function contextIgnore(context: string, dockerfile: string): Promise<{ patterns: number; ignores: (name: string) => boolean }> {
  const text = await readFile(join(context, '.dockerignore'), 'utf8').catch(() => '');
  const patterns = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const matcher = dockerignore().add(patterns);
  const exceptions = patterns.some((p) => p.startsWith('!'));
  const always = new Set(['.dockerignore', dockerfile.split(sep).join('/')]);
  return {
    patterns: patterns.length,
    ignores(name: string): boolean {
      const rel = relative(context, name).split(sep).join('/');
      if (rel.split('/')[0] === '.git') return true;
      if (patterns.length === 0 || always.has(rel) || !matcher.ignores(rel)) return false;
      return !(exceptions && lstatSync(name).isDirectory());
    },
  };
}

/** The context directory, checked to be inside the workspace and to hold the Dockerfile. */
async function contextDir(workspace: string, context: string, dockerfile: string): Promise<string> {
  const root = await realpath(workspace);
  const dir = await realpath(join(root, context)).catch(() => null);
  if (!dir || !(await stat(dir)).isDirectory()) throw new PublishError(`no build context: ${context} is not a directory in the repository`);
  if (dir !== root && !dir.startsWith(`${root}${sep}`)) throw new PublishError(`build context ${context} leads outside the repository`);
  const file = await realpath(join(dir, dockerfile)).catch(() => null);
  if (!file || !(await stat(file)).isFile()) throw new PublishError(`no Dockerfile at ${context === '.' ? '' : `${context}/`}${dockerfile}`);
  if (!file.startsWith(`${dir}${sep}`)) throw new PublishError(`${dockerfile} leads outside the build context ${context}`);
  return dir;
}

function messageOf(err: unknown): string {
  const json = (err as { json?: { message?: unknown } }).json;
  if (json && typeof json.message === 'string') return json.message;
  return err instanceof Error ? err.message : String(err);
}

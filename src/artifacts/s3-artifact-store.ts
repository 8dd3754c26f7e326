import { randomUUID } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { CodedError, InfraError, UserError } from '../errors.js';
import type { S3StoreConfig } from './artifacts-config.js';
import { checkArtifactPath, writeHashed, type ArtifactStore, type StoredBuild } from './artifact-store.js';

/** The access key pair of an S3 store: from the configured files, else from the environment. */
export function s3Credentials(
  config: Pick<S3StoreConfig, 'accessKeyIdFile' | 'secretAccessKeyFile'>,
  env: NodeJS.ProcessEnv = process.env,
): { accessKeyId: string; secretAccessKey: string } {
  if (config.accessKeyIdFile && config.secretAccessKeyFile) {
    const read = (field: string, file: string): string => {
      let text: string;
      try {
        text = readFileSync(file, 'utf8').trim();
      } catch (err) {
        throw new UserError(
          'config_invalid',
          `invalid server config: artifacts.store.${field}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
        );
      }
      if (!text) throw new UserError('config_invalid', `invalid server config: artifacts.store.${field}: ${file} is empty`);
      return text;
    };
    return { accessKeyId: read('accessKeyIdFile', config.accessKeyIdFile), secretAccessKey: read('secretAccessKeyFile', config.secretAccessKeyFile) };
  }
  const accessKeyId = env.AWS_ACCESS_KEY_ID?.trim();
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY?.trim();
  if (!accessKeyId || !secretAccessKey) {
    throw new UserError(
      'config_invalid',
      'invalid server config: artifacts.store (kind: s3) has no credentials: set accessKeyIdFile and secretAccessKeyFile, or the environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    );
  }
  return { accessKeyId, secretAccessKey };
}

/**
 * Artifacts in an S3-compatible bucket (AWS S3, MinIO): the file `<path>` of build `<id>` of
 * repository `<repo>` is the object `<prefix><repo>/<id>/<path>` (repo and id URI-encoded, so
 * `acme/api` is one key segment). `@aws-sdk/client-s3` is loaded on first use only, so a server
 * on the data-directory store never pays for it.
 *
 * - `put` spools the stream to a temporary file (hashing and capping it as it goes), then
 *   uploads it with its length in one PutObject (three attempts on a 5xx or a network error):
 *   an object appears whole or not at all.
 * - `builds` lists the prefix (ListObjectsV2, paged) and dates a build by its newest object.
 * - `removeBuild` lists the build's keys and deletes each (DeleteObject; idempotent).
 * S3 errors other than "no such key" are infrastructure errors (retried by the queue).
 */
export class S3ArtifactStore implements ArtifactStore {
  readonly #config: S3StoreConfig;
  readonly #credentials: { accessKeyId: string; secretAccessKey: string };
  #client: Promise<{ client: S3Client; sdk: typeof import('@aws-sdk/client-s3') }> | undefined;

  constructor(config: S3StoreConfig, env: NodeJS.ProcessEnv = process.env) {
    this.#config = config;
    this.#credentials = s3Credentials(config, env);
  }

  async put(repo: string, buildId: string, path: string, content: Readable, maxBytes: number): Promise<{ size: number; sha256: string }> {
    const key = this.#key(repo, buildId, path);
    const dir = join(tmpdir(), 'bosun-s3-spool');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const temp = join(dir, randomUUID());
    try {
      const { size, sha256 } = await writeHashed(content, temp, path, maxBytes, 0o600);
      const { client, sdk } = await this.#sdk();
      // The SDK never retries a streamed body, so a transient failure (a 5xx, a dropped
      // connection) is retried here, each attempt reading the spooled file afresh.
      for (let attempt = 1; ; attempt++) {
        try {
          await client.send(
            new sdk.PutObjectCommand({
              Bucket: this.#config.bucket,
              Key: key,
              Body: createReadStream(temp),
              ContentLength: size,
              ContentType: 'application/octet-stream',
              Metadata: { sha256 },
            }),
          );
          return { size, sha256 };
        } catch (err) {
          const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
          if (attempt >= 3 || (status !== undefined && status < 500)) throw this.#infra('PutObject', key, err);
          await new Promise((r) => setTimeout(r, 200 * attempt));
        }
      }
    } finally {
      await rm(temp, { force: true });
    }
  }

  async open(repo: string, buildId: string, path: string): Promise<{ stream: Readable; size: number } | undefined> {
    if (!checkArtifactPath(path)) return undefined;
    const key = this.#key(repo, buildId, path);
    const { client, sdk } = await this.#sdk();
    try {
      const out = await client.send(new sdk.GetObjectCommand({ Bucket: this.#config.bucket, Key: key }));
      return { stream: out.Body as Readable, size: out.ContentLength ?? 0 };
    } catch (err) {
      if (
        err instanceof sdk.NoSuchKey ||
        (err as { name?: string }).name === 'NoSuchKey' ||
        (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404
      )
        return undefined;
      throw this.#infra('GetObject', key, err);
    }
  }

  async removeBuild(repo: string, buildId: string): Promise<void> {
    const prefix = `${this.#config.prefix}${encodeURIComponent(repo)}/${encodeURIComponent(buildId)}/`;
    const { client, sdk } = await this.#sdk();
    for (const object of await this.#list(prefix)) {
      await this.#call('DeleteObject', object.key, () => client.send(new sdk.DeleteObjectCommand({ Bucket: this.#config.bucket, Key: object.key })));
    }
  }

  async builds(): Promise<StoredBuild[]> {
    const byBuild = new Map<string, StoredBuild>();
    for (const object of await this.#list(this.#config.prefix)) {
      const [repo, buildId, ...rest] = object.key.slice(this.#config.prefix.length).split('/');
      if (!repo || !buildId || rest.length === 0) continue;
      const id = `${repo}/${buildId}`;
      const seen = byBuild.get(id);
      if (seen && seen.storedAt >= object.lastModified) continue;
      byBuild.set(id, { repo: decodeURIComponent(repo), buildId: decodeURIComponent(buildId), storedAt: object.lastModified });
    }
    return [...byBuild.values()];
  }

  async #list(prefix: string): Promise<{ key: string; lastModified: Date }[]> {
    const { client, sdk } = await this.#sdk();
    const out: { key: string; lastModified: Date }[] = [];
    let token: string | undefined;
    for (let page = 0; page < 100_000; page++) {
      const res = await this.#call('ListObjectsV2', prefix, () =>
        client.send(new sdk.ListObjectsV2Command({ Bucket: this.#config.bucket, Prefix: prefix || undefined, ContinuationToken: token })),
      );
      for (const o of res.Contents ?? []) if (o.Key) out.push({ key: o.Key, lastModified: o.LastModified ?? new Date(0) });
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
      if (!token) break;
    }
    return out;
  }

  #key(repo: string, buildId: string, path: string): string {
    const checked = checkArtifactPath(path);
    if (!checked) throw new CodedError('bad_request', `not an artifact path: ${path}`, false);
    return `${this.#config.prefix}${encodeURIComponent(repo)}/${encodeURIComponent(buildId)}/${checked}`;
  }

  async #call<T>(op: string, key: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw this.#infra(op, key, err);
    }
  }

  #infra(op: string, key: string, err: unknown): InfraError {
    const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    const status = e.$metadata?.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : '';
    return new InfraError(
      'infra',
      `S3 artifact store: ${op} s3://${this.#config.bucket}/${key} failed${status}: ${e.name ?? 'Error'}: ${e.message ?? String(err)}`,
      { cause: err },
    );
  }

  #sdk(): Promise<{ client: S3Client; sdk: typeof import('@aws-sdk/client-s3') }> {
    this.#client ??= import('@aws-sdk/client-s3').then((sdk) => ({
      sdk,
      client: new sdk.S3Client({
        endpoint: this.#config.endpoint,
        region: this.#config.region,
        forcePathStyle: this.#config.forcePathStyle,
        credentials: this.#credentials,
        // Plain SigV4 requests (no aws-chunked checksum trailers), which every S3-compatible
        // server accepts; integrity is the sha256 Bosun records and checks on download.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        maxAttempts: 3,
        // The SDK's own warnings went to the console; Bosun reports S3 failures in its errors.
        logger: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
      }),
    }));
    return this.#client;
  }
}

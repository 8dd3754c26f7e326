import { z } from 'zod';

/** `artifacts.store: { kind: dataDir }` (the default): files under `<dataDir>/artifacts/<repo>/<build>/…`. */
export const DataDirStoreConfig = z.strictObject({ kind: z.literal('dataDir') });
export type DataDirStoreConfig = z.infer<typeof DataDirStoreConfig>;

/**
 * `artifacts.store: { kind: s3, … }`: an S3-compatible object store (AWS S3, MinIO), objects
 * under `<prefix><repo>/<build>/<path>`, path-style addressing unless `forcePathStyle: false`.
 * Credentials from the two files, or else from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`.
 */
export const S3StoreConfig = z
  .strictObject({
    kind: z.literal('s3'),
    /** e.g. `http://minio.internal:9000`, `https://s3.eu-west-1.amazonaws.com`. */
    endpoint: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }),
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name (3-63 of a-z, 0-9, . and -)'),
    region: z.string().min(1).default('us-east-1'),
    /** Prepended to every key; empty, or ending in `/`. */
    prefix: z
      .string()
      .max(256)
      .regex(/^$|^[^/].*\/$/, 'expected empty or a key prefix ending in / (not starting with /)')
      .default(''),
    /** Bucket in the path (`endpoint/bucket/key`), as MinIO needs; false for virtual-hosted style. */
    forcePathStyle: z.boolean().default(true),
    accessKeyIdFile: z.string().min(1).optional(),
    secretAccessKeyFile: z.string().min(1).optional(),
  })
  .refine((c) => (c.accessKeyIdFile === undefined) === (c.secretAccessKeyFile === undefined), {
    message: 'give both accessKeyIdFile and secretAccessKeyFile, or neither (then AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are read)',
  });
export type S3StoreConfig = z.infer<typeof S3StoreConfig>;

export const ArtifactStoreConfig = z.discriminatedUnion('kind', [DataDirStoreConfig, S3StoreConfig], {
  error: 'expected kind: dataDir or kind: s3',
});
export type ArtifactStoreConfig = z.infer<typeof ArtifactStoreConfig>;

/**
 * Server config `artifacts`: where kept files live (`store`, the data directory by default),
 * caps on what a build keeps, and how long. See docs/artifacts.md.
 */
export const ArtifactsConfig = z.strictObject({
  /** The artifact store: `{ kind: dataDir }` (default) or `{ kind: s3, endpoint, bucket, … }`. */
  store: ArtifactStoreConfig.default({ kind: 'dataDir' }),
  /** A file larger than this is not kept (a line in the step log says so). */
  maxFileBytes: z
    .number()
    .int()
    .positive()
    .default(100 * 1024 ** 2),
  /** What one build keeps in all; files past it are not kept. */
  maxBuildBytes: z
    .number()
    .int()
    .positive()
    .default(1024 ** 3),
  /** A JUnit report larger than this is not read (a `problems` entry says so). */
  maxReportBytes: z
    .number()
    .int()
    .positive()
    .default(10 * 1024 ** 2),
  /** Builds' artifacts older than this are deleted by the sweeper (0 = no age limit). */
  retainDays: z.number().int().nonnegative().default(30),
  /** Per repository, only the newest N builds keep their artifacts (0 = no count limit). */
  retainBuildsPerRepo: z.number().int().nonnegative().default(50),
  /** How often the sweeper runs. */
  sweepIntervalSec: z.number().int().positive().default(3600),
});
export type ArtifactsConfig = z.infer<typeof ArtifactsConfig>;

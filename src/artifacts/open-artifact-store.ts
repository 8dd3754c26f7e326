import type { ArtifactsConfig } from './artifacts-config.js';
import { DataDirArtifactStore, type ArtifactStore } from './artifact-store.js';
import { S3ArtifactStore } from './s3-artifact-store.js';

const opened = new WeakMap<object, ArtifactStore>();

/**
 * The artifact store server config `artifacts.store` names: the data directory (default) or an
 * S3-compatible bucket. One store per config object, so the S3 client (and its connections) is
 * shared by the worker, the download routes and the sweeper. Throws `config_invalid` when an S3
 * store has no readable credentials.
 */
export function artifactStoreFor(config: { dataDir: string; artifacts: Pick<ArtifactsConfig, 'store'> }): ArtifactStore {
  const store = config.artifacts.store;
  if (store.kind === 'dataDir') return new DataDirArtifactStore(config.dataDir);
  let s3 = opened.get(store);
  if (!s3) {
    s3 = new S3ArtifactStore(store);
    opened.set(store, s3);
  }
  return s3;
}

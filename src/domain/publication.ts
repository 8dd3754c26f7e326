/**
 * A deliverable Bosun published for a build: what it pushed where, identified by content
 * (a Docker image digest, a Python distribution's file hashes). Deploys refer to these and
 * nothing else, so production can only ever run what a build published.
 */
export interface DockerPublication {
  kind: 'docker';
  /** The stage whose `publish:` made it. */
  stage: string;
  /** Repository in the registry, registry host included: `registry.example:5000/acme/api`. */
  image: string;
  /** The tag pushed with it (the commit sha). Informational: deploys use the digest. */
  tag: string;
  /** `sha256:<64 hex>` as the registry reported it for the pushed manifest. */
  digest: string;
  /** `image@digest`: the only form a deploy accepts. */
  ref: string;
  publishedAt: string;
}

export interface PypiPublication {
  kind: 'pypi';
  stage: string;
  /** Repository name from server config (`internal`). */
  repository: string;
  /** Normalised project name (PEP 503) and version. */
  package: string;
  version: string;
  files: { filename: string; sha256: string }[];
  /** True when every file was already there with the same hash (nothing uploaded). */
  alreadyPublished?: boolean;
  publishedAt: string;
}

export type Publication = DockerPublication | PypiPublication;

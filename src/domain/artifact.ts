/** One file a build kept (`artifacts:`), as recorded on the build. */
export interface ArtifactFile {
  /** Workspace-relative POSIX path (`dist/app.whl`); unique within the build (a later copy replaces it). */
  path: string;
  stage: string;
  step: string;
  size: number;
  /** Hex SHA-256 of the content. */
  sha256: string;
}

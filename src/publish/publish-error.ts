/**
 * Why a deliverable was not published, in words for people: it names the registry or index
 * and what it said. The stage fails with it (`StageRun.publishError`); nothing retries it by
 * itself (a retry of the build publishes again, idempotently).
 */
export class PublishError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PublishError';
  }
}

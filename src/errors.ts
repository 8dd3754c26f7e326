/**
 * Errors with stable codes. The class decides what happens next:
 * - `UserError`: shown to the person, never retried (bad spec, unknown ref, forbidden).
 * - `InfraError`: retried by the queue (Redis blip, Docker down, worker lost).
 * Anything else is wrapped by `asCodedError` as `internal` and treated as infrastructure.
 */
export type ErrorCode =
  | 'bad_request'
  | 'spec_invalid'
  | 'unknown_repo'
  | 'unknown_ref'
  | 'unknown_build'
  | 'unknown_command'
  | 'forbidden'
  | 'rate_limited'
  | 'invalid_transition'
  | 'conflict'
  | 'not_found'
  | 'lease_denied'
  | 'config_invalid'
  | 'redis_unsafe'
  | 'infra'
  | 'executor'
  | 'timeout'
  | 'stage_busy'
  | 'internal';

export class CodedError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  constructor(code: ErrorCode, message: string, retryable: boolean, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.retryable = retryable;
    this.name = new.target.name;
  }
}

export class UserError extends CodedError {
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, false, options);
  }
}

export class InfraError extends CodedError {
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, true, options);
  }
}

/**
 * A stage job arrived (redelivered after its worker lost the queue lock, or duplicated) while
 * another live worker still holds the stage: the job waits and tries again; it must not run
 * the stage's steps a second time (R20).
 */
export class StageBusyError extends InfraError {
  constructor(buildId: string, stage: string) {
    super('stage_busy', `stage ${stage} of build #${buildId} is still held by a live worker`);
  }
}

export class InvalidTransitionError extends UserError {
  constructor(what: string, from: string, to: string) {
    super('invalid_transition', `${what} is ${from}; it cannot become ${to}`);
  }
}

export function asCodedError(err: unknown): CodedError {
  if (err instanceof CodedError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new InfraError('internal', message, { cause: err });
}

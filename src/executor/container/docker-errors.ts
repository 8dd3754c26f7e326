import { InfraError } from '../../errors.js';

/** The HTTP status of a dockerode error, if it has one. */
export function statusCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { statusCode?: unknown }).statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** Run an engine call whose 404 means "already gone" (idempotent removal). */
export async function ignoreNotFound(call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
  } catch (err) {
    if (statusCode(err) === 404) return;
    throw err;
  }
}

/** Wrap an engine failure as a retryable infrastructure error with coordinates. */
export function engineError(what: string, err: unknown): InfraError {
  if (err instanceof InfraError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new InfraError('executor', `${what}: ${message}`, { cause: err });
}

/** Retry `call` while it fails because the resource is still in use (409, 403, 500), up to `timeoutMs`. */
export async function retryWhileConflict(call: () => Promise<void>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await call();
      return;
    } catch (err) {
      const code = statusCode(err);
      if ((code !== 409 && code !== 403 && code !== 500) || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** Force-removes a container; gone (404) or already being removed (409) is success. */
export async function removeContainer(container: { remove(opts: { force: boolean }): Promise<unknown> }): Promise<void> {
  try {
    await container.remove({ force: true });
  } catch (err) {
    const code = statusCode(err);
    if (code === 404) return;
    if (code === 409 && /already in progress/.test(String((err as Error).message))) return;
    throw err;
  }
}

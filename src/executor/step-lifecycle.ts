import type { StepOutcome } from './executor.js';

/**
 * The bookkeeping every step handle shares, kept in one place: the step's timeout, the reason
 * a stop gives its outcome, whether the step has ended, and destroy-once.
 *
 * - `armTimeout(ms, graceMs)`: when it fires (the step still running), the reason becomes
 *   `timeout` unless one is set, and the handle's `terminate(graceMs)` runs.
 * - `stop(graceMs)`: the reason becomes `cancelled` unless one is set, then `terminate(graceMs)`;
 *   a no-op once the step ended.
 * - `end()`: the step ended by itself or was torn down: the timeout is disarmed, stops do
 *   nothing. Idempotent.
 * - `destroyOnce(fn)`: ends the lifecycle and runs `fn` the first time; every call (also
 *   concurrent ones) returns that same promise.
 */
export class StepLifecycle {
  reason: StepOutcome['reason'];
  readonly #terminate: (graceMs: number) => Promise<void>;
  #done = false;
  #timer: NodeJS.Timeout | undefined;
  #destroying: Promise<void> | undefined;

  constructor(terminate: (graceMs: number) => Promise<void>) {
    this.#terminate = terminate;
  }

  get done(): boolean {
    return this.#done;
  }

  /** True once `destroyOnce` was called. */
  get destroying(): boolean {
    return this.#destroying !== undefined;
  }

  armTimeout(ms: number, graceMs: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(
      () => {
        if (this.#done) return;
        this.reason ??= 'timeout';
        void this.#terminate(graceMs).catch(() => undefined);
      },
      Math.max(0, ms),
    );
  }

  async stop(graceMs: number): Promise<void> {
    if (this.#done) return;
    this.reason ??= 'cancelled';
    await this.#terminate(graceMs);
  }

  end(): void {
    this.#done = true;
    clearTimeout(this.#timer);
  }

  destroyOnce(fn: () => Promise<void>): Promise<void> {
    if (!this.#destroying) {
      clearTimeout(this.#timer);
      this.#destroying = fn();
    }
    return this.#destroying;
  }

  /** `outcome` with the stop's reason, when there was one. */
  withReason(exitCode: number): StepOutcome {
    return this.reason ? { exitCode, reason: this.reason } : { exitCode };
  }
}

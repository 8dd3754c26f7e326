import type { Logger } from '../logger.js';

/**
 * Waits for `work` at most `ms`, saying first what it drains and how long it waits (the
 * operator watching a SIGTERM sees what shutdown is waiting on); past that logs and moves on
 * (the work keeps running but is no longer awaited). For shutdown steps that can hang on a Redis that is gone (BullMQ's
 * `close()` waits for its connection), so that stopping Bosun always ends. Errors are logged.
 */
export async function bounded(log: Logger, what: string, work: () => Promise<unknown>, ms: number): Promise<void> {
  log.info({ step: what, waitsUpToMs: ms }, 'Shutdown: draining');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    const result = await Promise.race([work().then(() => 'done' as const), timeout]);
    if (result === 'timeout') log.warn({ step: what, waitedMs: ms }, 'Shutdown step timed out; going on without it');
  } catch (err) {
    log.warn({ err, step: what }, 'Shutdown step failed');
  } finally {
    clearTimeout(timer);
  }
}

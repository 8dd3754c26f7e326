import type { Logger } from '../logger.js';

/** However stuck a shutdown step is (BullMQ closing on a Redis that is gone), Bosun exits by then. */
const shutdownDeadlineMs = 20_000;

/**
 * Waits for SIGTERM or SIGINT, then runs `close` and exits. Stopping is bounded: if `close`
 * has not finished within `deadlineMs`, or a second signal arrives, the process exits with
 * status 1 anyway (an embedded redis-server dies with it).
 */
export async function stopOnSignal(log: Logger, close: () => Promise<void>, deadlineMs = shutdownDeadlineMs): Promise<never> {
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  log.info({ signal, deadlineMs }, 'Stopping: each shutdown step logs what it drains and how long it waits; steps cut short resume after the next start');
  const hardStop = (why: string) => {
    log.error({ deadlineMs }, why);
    process.exit(1);
  };
  const timer = setTimeout(() => hardStop('Shutdown did not finish in time; exiting anyway'), deadlineMs);
  process.once('SIGINT', () => hardStop('Second signal; exiting now'));
  process.once('SIGTERM', () => hardStop('Second signal; exiting now'));
  try {
    await close();
  } catch (err) {
    log.error({ err }, 'Shutdown failed');
    process.exitCode = 1;
  }
  clearTimeout(timer);
  log.info('Stopped');
  process.exit(process.exitCode ?? 0);
}

import { pino, type Logger } from 'pino';

export type { Logger };

/** One pino logger per process; units of work take a child (`{ buildId, stage, step }`). */
export function createLogger(level: string, name = 'bosun'): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

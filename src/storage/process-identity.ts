import { readFileSync } from 'node:fs';

/**
 * A process named by pid *and* start time, so a recycled pid is never mistaken for the
 * process it once was. The start time is field 22 of `/proc/<pid>/stat` (clock ticks since
 * boot); where there is no `/proc` (macOS) it is null and only the pid is compared.
 */
export interface ProcessIdentity {
  pid: number;
  start: string | null;
}

function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may itself hold spaces or ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null; // field 22 overall; fields[0] is field 3
  } catch {
    return null;
  }
}

export function identityOf(pid: number): ProcessIdentity {
  return { pid, start: processStart(pid) };
}

/** True while the process this identity names is alive (same pid, same start time). */
export function isAlive(id: ProcessIdentity): boolean {
  try {
    process.kill(id.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (id.start === null) return true;
  const now = processStart(id.pid);
  return now === null || now === id.start;
}

/** The process's command line as argv (empty when it cannot be read). */
export function commandLine(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

import { readFile } from 'node:fs/promises';
import { InfraError } from '../../errors.js';

/**
 * A local step's reference: `local:<pid>:<pgid>:<starttime>`. The step's shell leads its own
 * process group (pgid = pid). `starttime` (field 22 of /proc/<pid>/stat, `0` where /proc does
 * not exist) guards against pid reuse: another process can kill the group after a crash
 * without hitting an unrelated process that got the same pid.
 */
export interface LocalRef {
  pid: number;
  pgid: number;
  startTime: string;
}

export function formatLocalRef(ref: LocalRef): string {
  return `local:${ref.pid}:${ref.pgid}:${ref.startTime}`;
}

export function parseLocalRef(ref: string): LocalRef {
  const match = /^local:(\d+):(\d+):(\d+)$/.exec(ref);
  if (!match) throw new InfraError('executor', `not a local executor ref: ${ref}`);
  return { pid: Number(match[1]), pgid: Number(match[2]), startTime: match[3]! };
}

/** The start time of `pid` from /proc, `'0'` when /proc is unavailable, undefined when gone. */
export async function processStartTime(pid: number): Promise<string | undefined> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if (isCode(err, 'ENOENT') || isCode(err, 'ESRCH')) return (await procExists()) ? undefined : '0';
    throw err;
  }
  // Fields after the parenthesised command name (which may contain spaces).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19] ?? '0';
}

/**
 * Send `signal` to the ref's process group unless its leader's pid now belongs to another
 * process. A group whose leader is gone is still signalled: its pgid cannot be reused while
 * any member lives. Returns false when nothing was there to signal.
 */
export async function signalLocalRef(ref: LocalRef, signal: NodeJS.Signals): Promise<boolean> {
  const startTime = await processStartTime(ref.pid);
  if (startTime !== undefined && startTime !== '0' && ref.startTime !== '0' && startTime !== ref.startTime) return false;
  return signalGroup(ref.pgid, signal);
}

/** Signal a process group; false when it no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if (isCode(err, 'ESRCH') || isCode(err, 'EPERM')) return false;
    throw err;
  }
}

async function procExists(): Promise<boolean> {
  try {
    await readFile('/proc/self/stat', 'utf8');
    return true;
  } catch {
    return false;
  }
}

export function isCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

import { stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { UserError } from '../errors.js';

/**
 * Checks a step's workdir against its workspace on this host and returns it relative to the
 * workspace, in POSIX form ('' for the workspace itself). Refuses a workdir that leaves the
 * workspace or does not exist in the checkout (a user error: it comes from the spec).
 */
export async function workingDirectory(workspace: string, workdir: string): Promise<string> {
  const absolute = resolve(workspace, workdir || '.');
  const rel = relative(workspace, absolute);
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new UserError('spec_invalid', `working directory ${workdir} is outside the workspace`);
  }
  const info = await stat(absolute).catch(() => undefined);
  if (!info?.isDirectory()) throw new UserError('spec_invalid', `working directory ${workdir || '.'} does not exist`);
  return rel.split(sep).join('/');
}

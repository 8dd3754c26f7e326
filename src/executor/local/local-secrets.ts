import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { StepSecret } from '../executor.js';

const prefix = 'bosun-secrets-';

/** A tmpfs when the machine has one (Linux `/dev/shm`), so secret files never reach a disk. */
function secretsParent(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
}

/**
 * Writes a local step's secrets: a fresh directory (mkdtemp: mode 0700, this user only) with
 * one 0600 file per secret, created exclusively. Returns the directory; on failure nothing is left.
 */
export async function writeSecretFiles(secrets: readonly StepSecret[]): Promise<string> {
  const dir = await mkdtemp(join(secretsParent(), prefix));
  try {
    for (const secret of secrets) await writeFile(join(dir, secret.name), secret.value, { mode: 0o600, flag: 'wx' });
    return dir;
  } catch (err) {
    await removeSecretFiles(dir);
    throw err;
  }
}

/** Removes a directory made by `writeSecretFiles` (refuses any other path). Idempotent. */
export async function removeSecretFiles(dir: string): Promise<void> {
  if (!basename(dir).startsWith(prefix)) return;
  await rm(dir, { recursive: true, force: true });
}

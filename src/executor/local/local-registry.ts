import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isCode } from './local-ref.js';

export interface LocalEntry {
  ref: string;
  labels: Record<string, string>;
  /** The step's secrets directory, removed with the step (also after a crash). */
  secretsDir?: string;
}

/**
 * Where the local executor remembers the steps it started, so `reap` can find them after a
 * crash: one small JSON file per step under `<dataDir>/local-steps/`. Processes carry no
 * labels, so this directory is their label store. Written at start, removed at destroy.
 */
export class LocalRegistry {
  readonly #dir: string;

  constructor(dataDir: string) {
    this.#dir = join(dataDir, 'local-steps');
  }

  async record(entry: LocalEntry): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    await writeFile(this.#file(entry.ref), JSON.stringify(entry));
  }

  async get(ref: string): Promise<LocalEntry | undefined> {
    return readEntry(this.#file(ref));
  }

  async forget(ref: string): Promise<void> {
    await rm(this.#file(ref), { force: true });
  }

  async list(): Promise<LocalEntry[]> {
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch (err) {
      if (isCode(err, 'ENOENT')) return [];
      throw err;
    }
    const entries: LocalEntry[] = [];
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      const entry = await readEntry(join(this.#dir, name));
      if (entry) entries.push(entry);
    }
    return entries;
  }

  #file(ref: string): string {
    return join(this.#dir, `${ref.replaceAll(':', '_')}.json`);
  }
}

async function readEntry(file: string): Promise<LocalEntry | undefined> {
  try {
    const value: unknown = JSON.parse(await readFile(file, 'utf8'));
    if (typeof value !== 'object' || value === null) return undefined;
    const { ref, labels, secretsDir } = value as Partial<LocalEntry>;
    if (typeof ref !== 'string' || typeof labels !== 'object' || labels === null) return undefined;
    return { ref, labels, ...(typeof secretsDir === 'string' ? { secretsDir } : {}) };
  } catch {
    return undefined;
  }
}

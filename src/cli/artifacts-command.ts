import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ApiClient } from './api-client.js';

export const artifactsUsage = 'usage: bosun artifacts <build> [--get <path> [--out <file>|-]]';

/**
 * `bosun artifacts 42`: the files build 42 kept (path, size, sha256). `--get dist/app.whl`
 * downloads one into the current directory under its file name (`--out F` elsewhere, `-` to
 * standard output), checks its SHA-256 against the one recorded, and prints it. Exit 0 when
 * listed or saved and verified; 1 when the build, the file or the check fails (a file that
 * fails the check is not left behind).
 */
export async function artifactsCommand(
  api: ApiClient,
  args: string[],
  io: { cwd: string; out(text: string): void; stdout: { write(data: Buffer | string): void } },
): Promise<number> {
  const id = /^#?(\d{1,12})$/.exec(args[0] ?? '')?.[1];
  const rest = args.slice(1);
  const get = valueOf(rest, '--get');
  const out = valueOf(rest, '--out') ?? valueOf(rest, '-o');
  if (
    !id ||
    get === null ||
    out === null ||
    (out !== undefined && get === undefined) ||
    rest.some((a, i) => !a.startsWith('-') && !['--get', '--out', '-o'].includes(rest[i - 1] ?? ''))
  ) {
    io.out(artifactsUsage);
    return 1;
  }
  const files = await api.artifacts(id);
  if (get === undefined) {
    if (files.length === 0) {
      io.out(`Build #${id} kept no artifacts.`);
      return 0;
    }
    for (const f of files) io.out(`${f.path}\t${f.size}\tsha256:${f.sha256}\t(${f.stage}/${f.step})`);
    return 0;
  }
  const file = files.find((f) => f.path === get);
  if (!file) {
    io.out(`Build #${id} kept no artifact ${get}${files.length ? `; it kept: ${files.map((f) => f.path).join(', ')}` : ''}.`);
    return 1;
  }
  const res = await api.artifact(id, file.path);
  const hash = createHash('sha256');
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  if (out === '-') {
    const chunks: Buffer[] = [];
    await pipeline(res, tap, async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) chunks.push(chunk);
    });
    const digest = hash.digest('hex');
    if (digest !== file.sha256) throw new Error(`${file.path}: sha256 ${digest} does not match the recorded ${file.sha256}`);
    io.stdout.write(Buffer.concat(chunks));
    return 0;
  }
  const target = resolve(io.cwd, out ?? basename(file.path));
  const temp = `${target}.bosun-partial`;
  try {
    await pipeline(res, tap, createWriteStream(temp, { mode: 0o644 }));
    const digest = hash.digest('hex');
    if (digest !== file.sha256) throw new Error(`${file.path}: sha256 ${digest} does not match the recorded ${file.sha256}; nothing saved`);
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  io.out(`Saved ${target} (${file.size} bytes, sha256:${file.sha256} verified).`);
  return 0;
}

/** The value after `flag`: undefined when absent, null when the flag has no value. */
function valueOf(args: string[], flag: string): string | undefined | null {
  const i = args.indexOf(flag);
  if (i < 0) return undefined;
  const value = args[i + 1];
  return value === undefined || (value.startsWith('-') && value !== '-') ? null : value;
}

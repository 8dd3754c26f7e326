import { pack } from 'tar-fs';
import { stepUser } from './isolation.js';

/**
 * A tar stream of a checkout's contents, made in-process (tar-fs; no `tar` child process,
 * which costs Bosun's large process ~12 ms of CPU per fork), every entry owned by the step
 * user. Symlinks stay symlinks. `prefix` puts the entries under a directory (`workspace/…`,
 * the root itself as `workspace`); without it they are relative (`.`, `a`, `sub/b`).
 */
export function tarWorkspace(dir: string, prefix?: string, lastEntry?: string): NodeJS.ReadableStream {
  const [uid, gid] = stepUser.split(':').map(Number) as [number, number];
  return pack(dir, {
    // `lastEntry`: an empty file written after everything else (extraction is in order, so
    // once it exists the whole checkout is there).
    ...(lastEntry
      ? {
          finalize: false,
          finish: (p: { entry(header: { name: string; uid: number; gid: number; mode: number }, body: string): void; finalize(): void }) => {
            p.entry({ name: lastEntry, uid, gid, mode: 0o644 }, '');
            p.finalize();
          },
        }
      : {}),
    map: (header) => {
      header.uid = uid;
      header.gid = gid;
      if (prefix) header.name = header.name === '.' ? prefix : `${prefix}/${header.name}`;
      return header;
    },
  });
}

import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { git } from '../../src/git/git.js';

/** A real git repository on disk with the given files committed on `master`. */
export async function makeRepo(
  root: string,
  name: string,
  files: Record<string, string>,
): Promise<{ dir: string; url: string; commit(files: Record<string, string>, message?: string, branch?: string): Promise<string> }> {
  const dir = join(root, 'src-repos', name);
  await mkdir(dir, { recursive: true });
  await git(['init', '-q', '-b', 'master'], { cwd: dir });
  const commit = async (more: Record<string, string>, message = 'change', branch?: string): Promise<string> => {
    if (branch) await git(['checkout', '-q', '-B', branch], { cwd: dir });
    for (const [path, content] of Object.entries(more)) {
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await writeFile(join(dir, path), content);
    }
    await git(['add', '-A'], { cwd: dir });
    await git(['commit', '-q', '--allow-empty', '-m', message], { cwd: dir });
    return (await git(['rev-parse', 'HEAD'], { cwd: dir })).trim();
  };
  await commit(files, 'initial');
  return { dir, url: `file://${dir}`, commit };
}

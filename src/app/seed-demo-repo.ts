import { cp, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installRoot } from '../config.js';
import { git } from '../git/git.js';

/**
 * Makes the bundled example repository (`examples/demo`) a real bare git repository at
 * `<dataDir>/repos/demo.git` with `master` and `production` branches. Idempotent: an
 * existing repository is left as it is (it may have moved on).
 */
export async function seedDemoRepo(dataDir: string, source = join(installRoot, 'examples', 'demo')): Promise<string> {
  const bare = join(dataDir, 'repos', 'demo.git');
  if (
    await stat(join(bare, 'HEAD')).then(
      () => true,
      () => false,
    )
  )
    return bare;
  const work = await mkdtemp(join(tmpdir(), 'bosun-demo-'));
  try {
    await cp(source, work, { recursive: true });
    await git(['init', '-q', '-b', 'master'], { cwd: work });
    await git(['add', '-A'], { cwd: work });
    await git(['commit', '-q', '-m', 'Demo project for Bosun'], { cwd: work });
    await git(['branch', 'production'], { cwd: work });
    await git(['clone', '-q', '--bare', '--', work, bare]);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return bare;
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkout } from '../../src/git/checkout.js';
import { GitMirrors } from '../../src/git/git-mirrors.js';
import { git } from '../../src/git/git.js';
import { makeRepo } from '../support/git-repo.js';

async function setup() {
  const root = mkdtempSync(join(tmpdir(), 'bosun-checkout-'));
  const repo = await makeRepo(root, 'api', { README: 'hello\n', 'src/a.txt': 'a\n' });
  const sha = (await git(['rev-parse', 'HEAD'], { cwd: repo.dir })).trim();
  const mirrorsDir = join(root, 'git-mirrors');
  return { root, repo, sha, mirrorsDir, mirrors: new GitMirrors(mirrorsDir) };
}

/** Every file under `.git` except objects (text that could name the mirror or a remote). */
function gitMetadata(dir: string): string {
  return readdirSync(join(dir, '.git'), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && !join(e.parentPath, e.name).includes(`${join('.git', 'objects')}`))
    .map((e) => `${e.name}:\n${readFileSync(join(e.parentPath, e.name), 'latin1')}`)
    .join('\n');
}

test('a checkout is the commit, detached, depth 1, with a .git of its own that git can use', async () => {
  const { root, repo, sha, mirrors, mirrorsDir } = await setup();
  const dir = join(root, 'ws', '1');

  await checkout(repo.url, sha, dir, { mirrors });

  assert.equal(readFileSync(join(dir, 'src', 'a.txt'), 'utf8'), 'a\n');
  assert.equal(readFileSync(join(dir, '.git', 'HEAD'), 'utf8').trim(), sha);
  assert.equal((await git(['rev-parse', 'HEAD'], { cwd: dir })).trim(), sha);
  assert.equal((await git(['log', '--format=%s'], { cwd: dir })).trim(), 'initial');
  assert.equal(await git(['status', '--porcelain'], { cwd: dir }), '', 'the index matches the files');
  assert.equal((await git(['remote'], { cwd: dir })).trim(), '', 'no remote');
  assert.equal((await git(['tag'], { cwd: dir })).trim(), '', 'no tag from the mirror');
  assert.equal(existsSync(join(dir, '.git', 'objects', 'info', 'alternates')), false, 'objects are its own');
  const meta = gitMetadata(dir);
  assert.ok(!meta.includes(mirrorsDir), `nothing in .git names the mirror:\n${meta}`);
  assert.deepEqual(readdirSync(join(root, 'ws')), ['1'], 'no temporary directory left beside it');
});

test('a commit the mirror already has is checked out without reaching the origin', async () => {
  const { root, repo, sha, mirrors } = await setup();
  await checkout(repo.url, sha, join(root, 'ws', '1'), { mirrors });
  renameSync(repo.dir, `${repo.dir}.gone`);

  await checkout(repo.url, sha, join(root, 'ws', '2'), { mirrors });

  assert.equal(readFileSync(join(root, 'ws', '2', 'README'), 'utf8'), 'hello\n');
  // A fresh mirror set (another host) has to reach the origin, which is gone.
  const elsewhere = new GitMirrors(join(root, 'other-mirrors'));
  await assert.rejects(checkout(repo.url, sha, join(root, 'ws', '3'), { mirrors: elsewhere }), /git fetch failed/);
  assert.equal(existsSync(join(root, 'ws', '3')), false);
});

test('a new commit is fetched into the mirror when a build needs it', async () => {
  const { root, repo, sha, mirrors } = await setup();
  await checkout(repo.url, sha, join(root, 'ws', '1'), { mirrors });
  const next = await repo.commit({ 'src/a.txt': 'b\n' }, 'second');

  await checkout(repo.url, next, join(root, 'ws', '2'), { mirrors });

  assert.equal(readFileSync(join(root, 'ws', '2', 'src', 'a.txt'), 'utf8'), 'b\n');
  assert.equal((await git(['log', '--format=%s'], { cwd: join(root, 'ws', '2') })).trim(), 'second', 'depth 1: only the commit itself');
  assert.equal(readFileSync(join(root, 'ws', '1', 'src', 'a.txt'), 'utf8'), 'a\n', 'the other checkout is untouched');
});

test('concurrent checkouts of one commit share the mirror and all succeed; an existing checkout is reused', async () => {
  const { root, repo, sha, mirrors } = await setup();
  const dirs = ['a', 'b', 'c', 'a'].map((n) => join(root, 'ws', n));

  await Promise.all(dirs.map((d) => checkout(repo.url, sha, d, { mirrors })));

  for (const d of dirs) assert.equal(readFileSync(join(d, '.git', 'HEAD'), 'utf8').trim(), sha);
  assert.deepEqual(readdirSync(join(root, 'ws')).sort(), ['a', 'b', 'c']);
  assert.equal(readdirSync(join(root, 'git-mirrors')).length, 1, 'one mirror for the repository');
});

test('an unknown commit fails with a git error and leaves no directory', async () => {
  const { root, repo, mirrors } = await setup();
  const dir = join(root, 'ws', 'x');

  await assert.rejects(checkout(repo.url, 'b'.repeat(40), dir, { mirrors }), /git fetch failed/);
  await assert.rejects(checkout(repo.url, 'not-a-sha', dir, { mirrors }), /full commit sha/);
  await assert.rejects(mirrors.ensureCommit(repo.url, '../../../etc'), /full commit sha/);
  assert.equal(existsSync(dir), false);
});

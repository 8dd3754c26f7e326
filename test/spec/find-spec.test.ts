import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { UserError } from '../../src/errors.js';
import { readSpecFile } from '../../src/spec/find-spec.js';

describe('readSpecFile', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bosun-spec-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function specInvalid(message: RegExp): (err: unknown) => boolean {
    return (err) => err instanceof UserError && err.code === 'spec_invalid' && message.test(err.message);
  }

  it('reads bosun.yml at the root', async () => {
    await writeFile(join(dir, 'bosun.yml'), 'version: 1\n');

    const spec = await readSpecFile(dir);

    assert.equal(spec.path, 'bosun.yml');
    assert.equal(spec.text.toString(), 'version: 1\n');
  });

  it('reads .bosun.yml when that is the only one', async () => {
    await writeFile(join(dir, '.bosun.yml'), 'version: 1\n');

    assert.equal((await readSpecFile(dir)).path, '.bosun.yml');
  });

  it('refuses to guess when both exist', async () => {
    await writeFile(join(dir, 'bosun.yml'), 'a');
    await writeFile(join(dir, '.bosun.yml'), 'b');

    await assert.rejects(readSpecFile(dir), specInvalid(/both bosun\.yml and \.bosun\.yml/));
  });

  it('says what is missing when there is neither', async () => {
    await assert.rejects(readSpecFile(dir), specInvalid(/^no bosun\.yml or \.bosun\.yml at the repository root$/));
  });

  it('refuses a file over 256 KiB by its size, without reading it', async () => {
    await writeFile(join(dir, 'bosun.yml'), Buffer.alloc(300 * 1024, 0x23));

    await assert.rejects(readSpecFile(dir), specInvalid(/^bosun\.yml is 300 KiB; the limit is 256 KiB$/));
  });

  it('refuses a symlink, which could point at a file outside the repository', async () => {
    await writeFile(join(dir, 'secret.txt'), 'top secret');
    await symlink(join(dir, 'secret.txt'), join(dir, 'bosun.yml'));

    await assert.rejects(readSpecFile(dir), specInvalid(/symbolic link/));
  });

  it('refuses a directory named bosun.yml', async () => {
    await mkdir(join(dir, 'bosun.yml'));

    await assert.rejects(readSpecFile(dir), specInvalid(/not a regular file/));
  });
});

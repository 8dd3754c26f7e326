import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { InfraError, UserError } from '../errors.js';
import { isSha } from '../domain/ref-name.js';

const run = promisify(execFile);

/**
 * Git through `execFile` only: never a shell, and every ref or URL comes after `--` (R11).
 * The environment is minimal so no prompt, pager or user config interferes.
 */
export async function git(args: string[], opts: { cwd?: string; timeoutMs?: number; extraEnv?: Record<string, string> } = {}): Promise<string> {
  try {
    const { stdout } = await run('git', args, {
      cwd: opts.cwd,
      timeout: opts.timeoutMs ?? 120_000,
      maxBuffer: 64 * 1024 * 1024,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/tmp',
        GIT_TERMINAL_PROMPT: '0',
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_AUTHOR_NAME: 'Bosun',
        GIT_AUTHOR_EMAIL: 'bosun@localhost',
        GIT_COMMITTER_NAME: 'Bosun',
        GIT_COMMITTER_EMAIL: 'bosun@localhost',
        ...opts.extraEnv,
      },
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; code?: unknown; message: string };
    throw new GitError(args[0] ?? 'git', (e.stderr ?? e.message).trim(), { cause: err });
  }
}

export class GitError extends InfraError {
  constructor(
    readonly command: string,
    readonly stderr: string,
    options?: ErrorOptions,
  ) {
    super('infra', `git ${command} failed: ${stderr.split('\n')[0] ?? ''}`, options);
  }
}

/**
 * Resolves a branch or tag name (or a full sha) on `url` to a commit sha.
 * Unknown refs are a UserError saying so, never raw git output (R27).
 */
export async function resolveRef(url: string, ref: string, extraEnv?: Record<string, string>): Promise<string> {
  if (isSha(ref)) return ref.toLowerCase();
  const out = await git(['ls-remote', '--heads', '--tags', '--', url, `refs/heads/${ref}`, `refs/tags/${ref}`], { extraEnv });
  const lines = out.trim().split('\n').filter(Boolean);
  // Annotated tags list the peeled commit as `^{}`; prefer it.
  const peeled = lines.find((l) => l.endsWith('^{}'));
  const line = peeled ?? lines[0];
  const sha = line?.split('\t')[0];
  if (!sha || !isSha(sha)) throw new UserError('unknown_ref', `unknown ref "${ref}"`);
  return sha;
}

/**
 * Makes `dir` a checkout of exactly `sha` from `url` (detached HEAD). Idempotent: an
 * existing checkout at that sha is reused.
 */
export async function checkout(url: string, sha: string, dir: string, extraEnv?: Record<string, string>): Promise<void> {
  if (!isSha(sha)) throw new UserError('bad_request', 'checkout needs a full commit sha');
  if (await isCheckoutOf(dir, sha)) return;
  // Build the checkout beside its final place and rename it in, so two workers preparing the
  // same build never see (or delete) each other's half-made directory.
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await mkdir(tmp, { recursive: true });
    await git(['init', '-q', '--', tmp]);
    await git(['-c', 'protocol.version=2', 'fetch', '-q', '--no-tags', '--depth=1', '--', url, sha], { cwd: tmp, extraEnv });
    await git(['-c', 'advice.detachedHead=false', 'checkout', '-q', '--detach', sha], { cwd: tmp });
    if (await isCheckoutOf(dir, sha)) return;
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir).catch(async (err: unknown) => {
      if (!(await isCheckoutOf(dir, sha))) throw err;
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function isCheckoutOf(dir: string, sha: string): Promise<boolean> {
  // A detached checkout's HEAD file holds the sha itself: reading it saves a git process
  // (a fork of this large process) on every stage's workspace check.
  const head = await readFile(join(dir, '.git', 'HEAD'), 'utf8').catch(() => '');
  return head.trim() === sha;
}

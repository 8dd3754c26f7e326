import { InfraError, UserError } from '../errors.js';
import { isSha } from '../domain/ref-name.js';
import { processHelper as runner } from '../process/process-helper.js';

/**
 * Git through `execFile` only (in the helper): never a shell, and every ref or URL comes after `--` (R11).
 * The environment is minimal so no prompt, pager or user config interferes.
 */
export async function git(args: string[], opts: { cwd?: string; timeoutMs?: number; extraEnv?: Record<string, string> } = {}): Promise<string> {
  try {
    const { stdout } = await runner.run('git', args, {
      cwd: opts.cwd,
      timeoutMs: opts.timeoutMs ?? 120_000,
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
    throw new GitError(subcommand(args), (e.stderr?.trim() || e.message).trim(), { cause: err });
  }
}

/** The git command in `args`, past global options such as `-c key=value` (for error messages). */
function subcommand(args: string[]): string {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-c' || a === '-C') i++;
    else if (!a.startsWith('-')) return a;
  }
  return 'git';
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

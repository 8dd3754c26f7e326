import { ProcessRunner } from './process-runner.js';

/**
 * This process's one process helper (see `ProcessRunner`): git, and the copy of a checkout
 * into a workspace volume, run from it instead of being forked from this large process.
 */
export const processHelper = new ProcessRunner();

/** The helper's process id while it runs (the bench adds its CPU to Bosun's). */
export function processHelperPid(): number | undefined {
  return processHelper.pid;
}

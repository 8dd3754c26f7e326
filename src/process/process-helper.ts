import { ProcessRunner } from './process-runner.js';

/**
 * This process's one process helper (see `ProcessRunner`): git, the copy of a checkout into a
 * workspace volume, and the egress rules' iptables commands run from it instead of being
 * forked from this large process (a fork blocks this process's event loop for milliseconds).
 */
export const processHelper = new ProcessRunner();

/** The helper's process id while it runs (the bench adds its CPU to Bosun's). */
export function processHelperPid(): number | undefined {
  return processHelper.pid;
}

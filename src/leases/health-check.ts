import { execFile } from 'node:child_process';

/**
 * Runs an item's health check: argv with execFile (never a shell), the item id in
 * `BOSUN_LEASE_ITEM`, killed after `timeoutSec`. Exit 0 = healthy; anything else, a timeout or
 * a missing program = not healthy. No check configured = healthy.
 */
export function runHealthCheck(argv: string[] | undefined, item: string, timeoutSec: number): Promise<boolean> {
  if (!argv || argv.length === 0) return Promise.resolve(true);
  const [file, ...args] = argv as [string, ...string[]];
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutSec * 1000, env: { ...process.env, BOSUN_LEASE_ITEM: item }, windowsHide: true }, (err) => resolve(!err));
  });
}

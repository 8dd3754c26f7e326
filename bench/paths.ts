import { basename, dirname, join } from 'node:path';
import { installRoot } from '../src/config.js';

/** Whether the bench runs compiled (bench/bench.sh: .bench-dist/bench/*.js on plain node), not through tsx. */
export const compiled = import.meta.url.endsWith('.js');

/** The checkout: `installRoot`, or the directory holding .bench-dist when the bench runs compiled. */
export const checkoutRoot = basename(installRoot) === '.bench-dist' ? dirname(installRoot) : installRoot;

/**
 * How to start `bosun <args>` as its own process: the compiled entry beside this code on plain
 * node when the bench runs compiled (what Bosun's image runs), else bin/bosun (tsx).
 */
export function bosunCommand(args: readonly string[]): { file: string; args: string[] } {
  if (compiled) return { file: process.execPath, args: ['--max-semi-space-size=2', join(installRoot, 'src', 'cli', 'main.js'), ...args] };
  return { file: join(installRoot, 'bin', 'bosun'), args: [...args] };
}

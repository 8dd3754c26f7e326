import type { Command } from './command.js';
import { build } from './build.js';
import { status } from './status.js';
import { logs } from './logs.js';
import { cancel } from './cancel.js';
import { retry } from './retry.js';
import { pass, fail } from './decide.js';
import { lease } from './lease.js';
import { leases } from './leases.js';
import { renew } from './renew.js';
import { release } from './release.js';
import { makeHelpCommand } from './help.js';

/** The explicit registry: every command Bosun understands, in the order help lists them. */
export const commands: Command[] = [];
commands.push(build, status, logs, cancel, retry, pass, fail, lease, leases, renew, release, makeHelpCommand(() => commands));

/** Adds commands contributed by a feature (leases, promote, merge) to the registry. */
export function registerCommands(...more: Command[]): void {
  for (const c of more) {
    if (commands.some((existing) => existing.name === c.name)) continue;
    commands.splice(commands.length - 1, 0, c);
  }
}

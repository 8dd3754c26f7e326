import { commands as registry } from '../../../commands/index.js';
import type { Command } from '../../../commands/command.js';
import { parseCommandLine } from '../../../commands/parse-command.js';
import type { Scope } from './auth-config.js';

/** Commands that only show things, or change only the caller's own settings (`notify me`). */
const readOnly = new Set(['status', 'logs', 'leases', 'help', 'notify']);
/** Commands that decide a checkpoint or trust outside code: the `approve` scope. */
const approving = new Set(['pass', 'fail', 'ok-to-test']);

/**
 * The scope `POST /api/commands` needs for a command line: `read` for commands that only
 * show or set the caller's own preferences (and for unknown ones, which only get help), `approve` for checkpoint decisions and
 * `ok-to-test`, and `build` for everything else (build, cancel, retry, leases, merge, promote,
 * and any command added later).
 */
export function scopeForCommand(text: string, commands: readonly Command[] = registry): Scope {
  const { name } = parseCommandLine(text);
  const command = commands.find((c) => c.name === name || c.aliases?.includes(name));
  if (!command || readOnly.has(command.name)) return 'read';
  return approving.has(command.name) ? 'approve' : 'build';
}

import { CodedError, asCodedError } from '../src/errors.js';
import type { Command, CommandContext, Reply } from './command.js';
import { commands as registry } from './index.js';
import { distance, parseCommandLine } from './parse-command.js';
import { availableCommands, renderHelp } from './help.js';
import { UsageError } from './usage-error.js';

/**
 * Runs one command line for any front end: finds the command, runs it, and turns errors
 * into replies. A user error is shown as it is; a usage error (`UsageError`, or any
 * `bad_request`) gets the command's usage from its help, here and nowhere else; anything
 * else is reported without internals.
 * Unknown or empty input gets the help of the nearest command.
 */
export async function dispatch(text: string, ctx: CommandContext, commands: readonly Command[] = registry): Promise<Reply> {
  const { name, args } = parseCommandLine(text);
  const offered = availableCommands(commands, ctx);
  if (!name) return { text: renderHelp(offered), kind: 'help', ephemeral: true };
  const command = commands.find((c) => c.name === name || c.aliases?.includes(name));
  if (!command) {
    const nearest = nearestCommand(name, offered);
    const hint = nearest ? `Did you mean \`${nearest.name}\`?\n\n${renderHelp(offered, nearest)}` : renderHelp(offered);
    return { text: `Unknown command "${name}". ${hint}`, kind: 'help', ephemeral: true };
  }
  try {
    return await command.run(ctx, args);
  } catch (err) {
    const coded = asCodedError(err);
    if (err instanceof UsageError) return { text: [...(err.detail ? [err.detail] : []), usageLine(command)].join('\n'), kind: 'error', ephemeral: true };
    if (err instanceof CodedError && !err.retryable) {
      const usage = coded.code === 'bad_request' ? `\n${usageLine(command)}` : '';
      return { text: `${coded.message}${usage}`, kind: 'error', ephemeral: true };
    }
    return { text: `Bosun could not ${command.name} right now (${coded.code}); please try again.`, kind: 'error', ephemeral: true };
  }
}

/** The one usage line every usage error ends with: the command's own `help.usage` and examples. */
function usageLine(command: Command): string {
  const examples = command.help.examples.slice(0, 2);
  return `usage: ${command.help.usage}${examples.length ? ` — e.g. ${examples.join(', ')}` : ''}`;
}

function nearestCommand(name: string, commands: readonly Command[]): Command | undefined {
  let best: { c: Command; d: number } | undefined;
  for (const c of commands) {
    for (const n of [c.name, ...(c.aliases ?? [])]) {
      const d = n.startsWith(name) ? 0 : distance(name, n);
      if (!best || d < best.d) best = { c, d };
    }
  }
  return best && best.d <= 3 ? best.c : undefined;
}

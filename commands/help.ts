import type { Command, CommandContext, CommandHelp } from './command.js';

/** Renders help from the registry; `help` is built from each command's own data. */
export function renderHelp(commands: readonly Command[], only?: Command): string {
  if (only) return renderOne(only.help, only.aliases);
  const width = Math.max(...commands.map((c) => c.help.usage.length));
  const lines = ['Bosun commands (prefix with /ci in Slack, @bosun in Zulip, `bosun` in a terminal):'];
  for (const c of commands) lines.push(`  ${c.help.usage.padEnd(width)}  ${c.help.description.split('. ')[0]!.replace(/\.$/, '')}`);
  lines.push('', 'help <command> shows details and examples.');
  return lines.join('\n');
}

function renderOne(help: CommandHelp, aliases: string[] = []): string {
  return [
    `${help.usage}`,
    `  ${help.description}`,
    `  Who can use it: ${help.whoCanUse}`,
    ...(aliases.length ? [`  Also: ${aliases.join(', ')}`] : []),
    '  Examples:',
    ...help.examples.map((e) => `    ${e}`),
  ].join('\n');
}

/** The commands this server can run for this context: help lists only these. */
export function availableCommands(commands: readonly Command[], ctx: CommandContext): Command[] {
  return commands.filter((c) => c.available?.(ctx) ?? true);
}

export function makeHelpCommand(all: () => readonly Command[]): Command {
  return {
    name: 'help',
    help: {
      usage: 'help [<command>]',
      description: 'List the commands, or show one command with examples.',
      whoCanUse: 'Anyone.',
      examples: ['help', 'help build'],
    },
    async run(ctx, args) {
      const offered = availableCommands(all(), ctx);
      const name = args[0]?.toLowerCase();
      const found = name ? offered.find((c) => c.name === name || c.aliases?.includes(name)) : undefined;
      if (name && !found) return { text: `No command "${name}".\n\n${renderHelp(offered)}`, kind: 'help', ephemeral: true };
      return { text: renderHelp(offered, found), kind: 'help', ephemeral: true };
    },
  };
}

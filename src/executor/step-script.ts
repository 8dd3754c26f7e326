/**
 * Turns a step's commands into the script given to `/bin/sh -e -c`. Each command is echoed
 * as `+ <command>` on stdout right before it runs. The echo goes through `printf '%s'` with
 * the command single-quoted, so the echo itself never expands or runs anything; the command
 * then runs as the repository's own script line (the spec is trusted as the repo's script;
 * nothing from chat or refs is ever placed here).
 */
export function stepScript(commands: readonly string[]): string {
  const lines: string[] = [];
  for (const command of commands) {
    lines.push(`printf '+ %s\\n' ${shellQuote(command)}`);
    lines.push(command);
  }
  return lines.join('\n') + '\n';
}

/** POSIX single-quoting: the result is one literal word for any input. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

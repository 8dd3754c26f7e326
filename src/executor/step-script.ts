/**
 * Turns a step's commands into the script given to `/bin/sh -e -c`. Each command is echoed
 * as `+ <command>` on stdout right before it runs. The echo goes through `printf '%s'` with
 * the command single-quoted, so the echo itself never expands or runs anything; the command
 * then runs as the repository's own script line (the spec is trusted as the repo's script;
 * nothing from chat or refs is ever placed here).
 * `waitFor`: a file to wait for, silently, before the first command (a step started while its
 * workspace is still being filled); after 10 min without it the step exits 125.
 * `preamble`: lines run (not echoed) before the first command, e.g. `secretsPreamble`.
 */
export function stepScript(commands: readonly string[], waitFor?: string, preamble?: string): string {
  const lines: string[] = [];
  if (waitFor) lines.push(waitLine(waitFor));
  if (preamble) lines.push(preamble.replace(/\n$/, ''));
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

/** Poll for `path` every 0.1 s (1 s where `sleep` takes whole seconds only), at most 6000 times. */
function waitLine(path: string): string {
  const file = shellQuote(path);
  return `i=0; while [ ! -e ${file} ]; do i=$((i+1)); if [ "$i" -gt 6000 ]; then echo "bosun: the workspace was not ready in time" >&2; exit 125; fi; sleep 0.1 2>/dev/null || sleep 1; done; unset i`;
}

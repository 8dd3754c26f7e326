import type { StepSecret } from './executor.js';
import { shellQuote } from './step-script.js';

/** Secret names and the variables they are exported as: safe as file names and shell words. */
const secretNamePattern = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/**
 * The script lines a step with secrets runs before its first command (never echoed):
 * - `fromStdin` (docker executor): read `NAME <escaped value>` lines from stdin until it ends and
 *   write each value to `<dir>/NAME` with umask 077; `printf %b` turns the `\0ooo` escapes of
 *   `secretsPayload` back into bytes (POSIX; dash, bash and busybox sh agree);
 * - then `export VAR="$(cat <dir>/NAME)"` for each `env` form (command substitution drops
 *   trailing newlines, as it would for any variable).
 * Names are checked against `secretNamePattern` and quoted anyway.
 */
export function secretsPreamble(dir: string, secrets: readonly StepSecret[], fromStdin: boolean): string {
  const lines: string[] = [];
  if (fromStdin) {
    lines.push(`(umask 077; while IFS= read -r s; do printf '%b' "\${s#* }" > ${shellQuote(dir)}/"\${s%% *}"; done)`);
  }
  for (const secret of secrets) {
    checkName(secret.name);
    for (const variable of secret.env) {
      checkName(variable);
      lines.push(`export ${variable}="$(cat ${shellQuote(`${dir}/${secret.name}`)})"`);
    }
  }
  return lines.length ? lines.join('\n') + '\n' : '';
}

/**
 * What the docker executor writes to a step's stdin: one `NAME <value>` line per secret, every
 * byte of the value other than a letter or digit as `\0ooo` (so a value may hold newlines,
 * quotes, backslashes or any UTF-8), ending with a newline.
 */
export function secretsPayload(secrets: readonly StepSecret[]): Buffer {
  const lines = secrets.map((secret) => {
    checkName(secret.name);
    let escaped = '';
    for (const byte of Buffer.from(secret.value, 'utf8')) {
      const isAlnum = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a);
      escaped += isAlnum ? String.fromCharCode(byte) : `\\0${byte.toString(8).padStart(3, '0')}`;
    }
    return `${secret.name} ${escaped}\n`;
  });
  return Buffer.from(lines.join(''), 'utf8');
}

function checkName(name: string): void {
  if (!secretNamePattern.test(name)) throw new Error(`not a valid secret or variable name: ${JSON.stringify(name)}`);
}

import { containerSecretsDir } from '../executor.js';
import { stepHome } from './isolation.js';

/**
 * The user a stage sandbox's idle process runs as (`nobody`): not the step user, so a step's
 * `kill -1` (run as the step user, without capabilities) reaches every process of the steps and
 * never the sandbox's own.
 */
export const sandboxIdleUser = '65534:65534';

/** The sandbox's idle process: sleeps until the container is removed (any image with `sh` and `sleep`). */
export const sandboxIdleCommand = ['/bin/sh', '-c', "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"];

/** Signals every process of the step user in the sandbox (the running step and anything it left), as the step user. */
export function signalStepScript(signal: 'TERM' | 'KILL'): string[] {
  return ['/bin/sh', '-c', `kill -${signal} -1 2>/dev/null; exit 0`];
}

/** The directories a step may write outside the workspace; emptied after each step. */
const scratchDirs = ['/tmp', stepHome, containerSecretsDir];

/**
 * The cleaning after a step, as shell functions for a script run as the step user:
 * - `bosun_clean` kills whatever the step left running (until nothing of the step user is left
 *   but the calling shell; returns 4 if that fails), empties /tmp, HOME and the secrets
 *   directory and checks they are empty (returns 3 otherwise: the sandbox is then replaced);
 *   returns 0 when all went well;
 * - `bosun_oom` sets `bosun_oom_kills` to the memory cgroup's OOM-kill counter (cgroup v1
 *   `memory.oom_control`, v2 `memory.events`), or `-` when the engine's cgroups do not say.
 */
function cleaningFunctions(): string[] {
  const dirs = scratchDirs.join(' ');
  const globs = scratchDirs.flatMap((d) => [`${d}/*`, `${d}/.[!.]*`, `${d}/..?*`]).join(' ');
  return [
    // `kill -1` succeeds while any other process exists (also one it may not signal): whether the
    // step user still has a process is read from /proc (a process's directory is owned by its uid).
    'bosun_left() { for d in /proc/[0-9]*; do [ "${d#/proc/}" = "$$" ] && continue; [ -O "$d" ] && return 0; done; return 1; }',
    'bosun_clean() {',
    '  i=0; while bosun_left && [ "$i" -lt 50 ]; do kill -KILL -1 2>/dev/null; i=$((i+1)); sleep 0.05 2>/dev/null || sleep 1; done',
    '  if bosun_left; then echo "bosun: processes of the step are left" >&2; return 4; fi',
    `  rm -rf ${globs} 2>/dev/null`,
    `  for d in ${dirs}; do if [ -d "$d" ] && [ -n "$(ls -A "$d" 2>/dev/null)" ]; then echo "bosun: $d is not empty" >&2; return 3; fi; done`,
    '  return 0',
    '}',
    'bosun_oom() {',
    '  bosun_oom_kills=-',
    '  for f in /sys/fs/cgroup/memory/memory.oom_control /sys/fs/cgroup/memory.events; do [ -r "$f" ] || continue; while read -r k v; do [ "$k" != oom_kill ] || bosun_oom_kills=$v; done < "$f"; break; done',
    '}',
  ];
}

/**
 * Run as the step user after a step whose own exec did not report its cleaning (`stepWithCleaningScript`):
 * `bosun_clean` (exit 4: processes are left; exit 3: a directory is not empty), then prints the
 * memory cgroup's OOM-kill counter as `oom_kill N` (nothing when the engine's cgroups do not say).
 */
export function cleanStepScript(): string[] {
  const script = [...cleaningFunctions(), 'bosun_clean || exit $?', 'bosun_oom; [ "$bosun_oom_kills" = - ] || echo "oom_kill $bosun_oom_kills"', 'exit 0'].join(
    '\n',
  );
  return ['/bin/sh', '-c', script];
}

/**
 * A step's exec with its cleaning folded in (one exec per step instead of two): a POSIX sh
 * wrapper, run as the step user, that
 * 1. runs the step's script as its child (`/bin/sh -e -c <script>`, stdin, stdout and stderr
 *    the exec's), surviving a TERM, HUP or INT meant for the step (a trap with a handler: the
 *    child gets the default dispositions, and the shell runs the trap only once the child has
 *    ended, its exit code kept); the wrapper's own stderr is /dev/null while it waits, so the
 *    shell's "Killed"/"Terminated" notices never reach the step log;
 * 2. then cleans as `cleanStepScript` does (`kill -1` spares the calling shell), with a fixed
 *    PATH and no loader variables from the step's env;
 * 3. writes one report line on stderr: `<marker><step exit code> <cleaning 0|3|4> <oom_kill N|->`
 *    (`parseStepReport`), which the executor strips from the output (`StepReportFilter`);
 * 4. exits with the step's exit code.
 * A step that kills the wrapper (SIGKILL to everything, a timeout's SIGKILL) leaves no report:
 * the executor then runs `cleanStepScript` in its own exec, as before.
 */
export function stepWithCleaningScript(script: string, marker: string): string[] {
  const wrapper = [
    'trap : TERM HUP INT',
    'exec 3>&2 2>/dev/null',
    '(exec /bin/sh -e -c "$1" 2>&3 3>&-)',
    'bosun_rc=$?',
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'unset LD_PRELOAD LD_LIBRARY_PATH LD_AUDIT',
    ...cleaningFunctions(),
    'bosun_clean; bosun_c=$?',
    'bosun_oom',
    'printf \'%s%s %s %s\\n\' "$2" "$bosun_rc" "$bosun_c" "$bosun_oom_kills" >&3',
    'exit "$bosun_rc"',
  ].join('\n');
  return ['/bin/sh', '-c', wrapper, 'sh', script, marker];
}

/** What a step's wrapper reported (`stepWithCleaningScript`), read from the text after its marker. */
export interface StepReport {
  exitCode: number;
  /** The cleaning's result: 0 clean, 3 a directory is not empty, 4 processes are left. */
  clean: number;
  /** The memory cgroup's OOM-kill counter after the step; undefined when the engine's cgroups do not say. */
  oomKills: number | undefined;
}

/** Parses a report line (without its marker and newline); undefined when it is not one. */
export function parseStepReport(text: string): StepReport | undefined {
  const match = /^(\d{1,3}) (\d) (\d+|-)$/.exec(text);
  if (!match) return undefined;
  return { exitCode: Number(match[1]), clean: Number(match[2]), oomKills: match[3] === '-' ? undefined : Number(match[3]) };
}

/** The `oom_kill N` counter from `cleanStepScript`'s output; undefined when the engine's cgroups do not say. */
export function parseOomKills(output: string): number | undefined {
  const match = /^oom_kill (\d+)$/m.exec(output);
  return match ? Number(match[1]) : undefined;
}

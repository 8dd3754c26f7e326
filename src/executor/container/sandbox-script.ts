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
 * Run as the step user after each step: kill whatever the step left running (until nothing of
 * the step user is left but this script; exit 4 if that fails), empty /tmp, HOME and the secrets directory, check they
 * are empty (exit 3 otherwise: the sandbox is then replaced), and print the memory cgroup's
 * OOM-kill counter (cgroup v1 `memory.oom_control`, v2 `memory.events`) as `oom_kill N`.
 */
export function cleanStepScript(): string[] {
  const dirs = scratchDirs.join(' ');
  const globs = scratchDirs.flatMap((d) => [`${d}/*`, `${d}/.[!.]*`, `${d}/..?*`]).join(' ');
  const script = [
    // `kill -1` succeeds while any other process exists (also one it may not signal): whether the
    // step user still has a process is read from /proc (a process's directory is owned by its uid).
    'left() { for d in /proc/[0-9]*; do [ "${d#/proc/}" = "$$" ] && continue; [ -O "$d" ] && return 0; done; return 1; }',
    'i=0; while left && [ "$i" -lt 50 ]; do kill -KILL -1 2>/dev/null; i=$((i+1)); sleep 0.05 2>/dev/null || sleep 1; done',
    'if left; then echo "bosun: processes of the step are left" >&2; exit 4; fi',
    `rm -rf ${globs} 2>/dev/null`,
    `for d in ${dirs}; do if [ -d "$d" ] && [ -n "$(ls -A "$d" 2>/dev/null)" ]; then echo "bosun: $d is not empty" >&2; exit 3; fi; done`,
    'for f in /sys/fs/cgroup/memory/memory.oom_control /sys/fs/cgroup/memory.events; do [ -r "$f" ] || continue; while read -r k v; do [ "$k" != oom_kill ] || echo "oom_kill $v"; done < "$f"; break; done',
    'exit 0',
  ].join('\n');
  return ['/bin/sh', '-c', script];
}

/** The `oom_kill N` counter from `cleanStepScript`'s output; undefined when the engine's cgroups do not say. */
export function parseOomKills(output: string): number | undefined {
  const match = /^oom_kill (\d+)$/m.exec(output);
  return match ? Number(match[1]) : undefined;
}

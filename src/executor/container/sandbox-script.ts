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
 * the step user is left but this script), empty /tmp, HOME and the secrets directory, check they
 * are empty (exit 3 otherwise: the sandbox is then replaced), and print the memory cgroup's
 * OOM-kill counter (cgroup v1 `memory.oom_control`, v2 `memory.events`) as `oom_kill N`.
 */
export function cleanStepScript(): string[] {
  const dirs = scratchDirs.join(' ');
  const globs = scratchDirs.flatMap((d) => [`${d}/*`, `${d}/.[!.]*`, `${d}/..?*`]).join(' ');
  const script = [
    'i=0; while kill -KILL -1 2>/dev/null; do i=$((i+1)); [ "$i" -lt 50 ] || break; sleep 0.1 2>/dev/null || sleep 1; done',
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

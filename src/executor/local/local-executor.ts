import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../logger.js';
import { UserError } from '../../errors.js';
import { labelKeys, secretsDirVariable, type Executor, type StepFate, type StepHandle, type StepSpec } from '../executor.js';
import { workingDirectory } from '../working-directory.js';
import { secretsPreamble } from '../secret-script.js';
import { removeSecretFiles, writeSecretFiles } from './local-secrets.js';
import { LocalRegistry } from './local-registry.js';
import { parseLocalRef, processStartTime, signalLocalRef } from './local-ref.js';
import { LocalStep } from './local-step.js';
import { hostDirectoryTar, type WorkspaceRead, type WorkspaceTar } from '../workspace-files.js';

export interface LocalExecutorOptions {
  instanceId: string;
  /** Bosun's data dir; the executor keeps its step registry under `<dataDir>/local-steps/`. */
  dataDir: string;
  log: Logger;
  /** PATH given to steps (default: the standard system directories). */
  path?: string;
  /** Grace between SIGTERM and SIGKILL when a step times out (default 10 s, R17). */
  timeoutGraceMs?: number;
  /**
   * util-linux `setpriv`, which makes a step's process group die with its worker (default: the
   * first of /usr/bin/setpriv and /bin/setpriv that exists; `false`: do without).
   */
  setpriv?: string | false;
}

const defaultPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The `local` executor: each step runs as `/bin/sh -e -c <script>` on this machine, in
 * `<workspace>/<workdir>`, leading its own process group. The default when no Docker engine
 * is present, and what remote OS-specific workers use.
 *
 * - Environment: `spec.env` plus PATH and a fresh empty HOME (removed at destroy). Bosun's own
 *   environment is never passed on, so its secrets do not leak into steps.
 * - Stop and timeout: SIGTERM to the group, SIGKILL after the grace. Leftover processes in the
 *   group are killed when the shell exits.
 * - No isolation and no memory, CPU or pids limits: `spec.limits` is ignored. Use it only for
 *   trusted repositories or on a dedicated worker machine.
 * - Steps die with their worker: the group's leader gets a parent-death signal (`setpriv
 *   --pdeathsig`, util-linux) and kills its group. Without `setpriv` (not Linux), a step whose
 *   worker was killed runs on until the next worker's resume or reap kills it.
 * - `ref` is `local:<pid>:<pgid>:<starttime>`; `destroyRef` kills that group from any process.
 * - After a crash: `inspectRef` says `running` while the group's leader still lives, else
 *   `gone` (a process that is not our child leaves no exit status to read); `reattach` is never
 *   possible (the step's output pipes went with the worker that died).
 * - `reap`: processes carry no labels, so each started step is recorded in
 *   `<dataDir>/local-steps/` with its labels until destroyed; `reap` kills the recorded steps of
 *   this instance that `keep` does not claim.
 * - `cleanupBuild` is a no-op: the workspace belongs to the caller.
 * - Secrets (`spec.secrets`): files (0600) in a fresh 0700 directory in a tmpfs (`/dev/shm`
 *   where it exists, else the system temp dir), named by `BOSUN_SECRETS_DIR`; the env forms are
 *   exported from those files by the script. The directory is removed at destroy, and is in the
 *   step's registry entry so `destroyRef`/`reap` remove it after a crash too.
 */
export class LocalExecutor implements Executor {
  readonly name = 'local' as const;
  readonly #opts: LocalExecutorOptions;
  readonly #registry: LocalRegistry;
  readonly #setpriv: string | undefined;

  constructor(opts: LocalExecutorOptions) {
    this.#opts = opts;
    this.#registry = new LocalRegistry(opts.dataDir);
    this.#setpriv = opts.setpriv === false ? undefined : (opts.setpriv ?? ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p)));
  }

  async start(spec: StepSpec): Promise<StepHandle> {
    if (spec.network) {
      // Nothing accepted that does not run: a process on the worker's host has no build network to narrow.
      throw new UserError(
        'bad_request',
        "bosun.yml's `network:` cannot be enforced by the local executor (steps run as processes on the worker's host, outside any egress policy); run this build on a docker or swarm worker, or remove `network:`",
      );
    }
    const cwd = join(spec.workspace, await workingDirectory(spec.workspace, spec.workdir));
    const home = await mkdtemp(join(tmpdir(), 'bosun-home-'));
    const secrets = spec.secrets ?? [];
    let secretsDir: string | undefined;
    const env: Record<string, string> = { PATH: this.#opts.path ?? defaultPath, HOME: home, ...spec.env };
    const labels = { ...spec.labels, [labelKeys.managed]: 'true', [labelKeys.instance]: this.#opts.instanceId };
    let step: LocalStep;
    try {
      if (secrets.length > 0) {
        secretsDir = await writeSecretFiles(secrets);
        env[secretsDirVariable] = secretsDir;
      }
      step = await LocalStep.spawn({
        commands: spec.commands,
        ...(secretsDir ? { preamble: secretsPreamble(secretsDir, secrets, false) } : {}),
        cwd,
        env,
        timeoutSec: spec.timeoutSec,
        timeoutGraceMs: this.#opts.timeoutGraceMs ?? 10_000,
        setpriv: this.#setpriv,
        onDestroy: async () => {
          await rm(home, { recursive: true, force: true });
          if (secretsDir) await removeSecretFiles(secretsDir);
          await this.#registry.forget(step.ref);
        },
      });
    } catch (err) {
      await rm(home, { recursive: true, force: true });
      if (secretsDir) await removeSecretFiles(secretsDir);
      throw err;
    }
    await this.#registry.record({ ref: step.ref, labels, ...(secretsDir ? { secretsDir } : {}) });
    return step;
  }

  async destroyRef(ref: string): Promise<void> {
    const parsed = parseLocalRef(ref);
    await signalLocalRef(parsed, 'SIGKILL');
    const secretsDir = (await this.#registry.get(ref))?.secretsDir;
    if (secretsDir) await removeSecretFiles(secretsDir);
    await this.#registry.forget(ref);
  }

  async inspectRef(ref: string): Promise<StepFate> {
    const parsed = parseLocalRef(ref);
    const startTime = await processStartTime(parsed.pid);
    if (startTime !== undefined && (startTime === '0' || parsed.startTime === '0' || startTime === parsed.startTime)) return { state: 'running' };
    return { state: 'gone', detail: 'its process is gone, and with it its exit status' };
  }

  /** Never possible: the step's output pipes and exit status belonged to the worker that died. */
  async reattach(_ref: string, _timeoutSec: number): Promise<StepHandle | undefined> {
    return undefined;
  }

  async reap(keep: (labels: Record<string, string>) => boolean): Promise<string[]> {
    const removed: string[] = [];
    for (const entry of await this.#registry.list()) {
      if (entry.labels[labelKeys.instance] !== this.#opts.instanceId) continue;
      if (keep(entry.labels)) continue;
      await this.destroyRef(entry.ref);
      removed.push(entry.ref);
    }
    if (removed.length > 0) this.#opts.log.info({ removed }, 'Reaped local steps');
    return removed;
  }

  /** Local steps make no per-build resources: nothing to sweep (the container executors do). */
  async reapBuilds(_isLive: (buildId: string) => boolean): Promise<string[]> {
    return [];
  }

  async cleanupBuild(_buildId: string): Promise<void> {}

  /** Steps run in the host workspace itself: read it there. */
  async readWorkspace(req: WorkspaceRead): Promise<WorkspaceTar> {
    return hostDirectoryTar(req.workspace, req.wants, req.maxFileBytes);
  }

  async close(): Promise<void> {}
}

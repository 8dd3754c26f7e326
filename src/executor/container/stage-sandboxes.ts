import type Docker from 'dockerode';
import { containerSecretsDir, secretsDirVariable, type StepFate, type StepHandle, type StepSpec } from '../executor.js';
import { secretsPayload, secretsPreamble } from '../secret-script.js';
import { stepScript } from '../step-script.js';
import { engineError, statusCode } from './docker-errors.js';
import { containerEnv, containerWorkdir } from './isolation.js';
import { SandboxPool, sandboxKey, type Sandbox } from './sandbox-pool.js';
import { SandboxStep, parseSandboxRef } from './sandbox-step.js';

/** The size in MiB the secrets tmpfs needs for `secrets` (at least 1; as `secretsTmpfsOptions`). */
export function secretsMibFor(secrets: readonly { value: string }[]): number {
  const bytes = secrets.reduce((sum, s) => sum + Buffer.byteLength(s.value, 'utf8') + 4096, 0);
  return Math.max(1, Math.ceil(bytes / 2 ** 20));
}

export interface StageSandboxesOptions {
  /** The engine the sandboxes' containers are on (execs go there). */
  docker: Docker;
  /** Other engines a sandbox's exec may be on (swarm: `swarm.nodeEngines`), asked by `inspectRef` in turn. */
  otherEngines?(): Docker[];
  timeoutGraceMs: number;
  /** Removes a sandbox this process does not know (an earlier process made it) by its container id. */
  removeForeign(containerId: string): Promise<void>;
}

/**
 * The `sandbox: stage` path shared by the container executors (docs/sandbox.md): each step is
 * exec'd (`SandboxStep`) in a sandbox of its (build, stage, image, limits) from this process's
 * `SandboxPool`; the executor says how a sandbox is made (`create`) and removed.
 * Refs are `sandbox:<containerId>:<execId>`:
 * - `inspectRef`: the exec's state (`running`; `exited` with its exit code; `gone` once its
 *   sandbox is removed or the step was destroyed here). The output of an exec is not kept by
 *   the engine, so `reattach` cannot give it back: a step whose worker died is settled by the
 *   pipeline's rules for a step whose fate is unknown (run again only when idempotent).
 * - `destroyRef`: a step of this process is destroyed; a sandbox of another (dead) process is removed.
 */
export class StageSandboxes {
  readonly #opts: StageSandboxesOptions;
  readonly #pool = new SandboxPool();
  readonly #active = new Map<string, { step: SandboxStep; sandbox: Sandbox }>();
  readonly #destroyed = new Set<string>();

  constructor(opts: StageSandboxesOptions) {
    this.#opts = opts;
  }

  /**
   * Runs `spec` in a sandbox of its key (`create` makes one when none is idle). `env` is the
   * step's env as the executor sends it (proxy variables included); `workdir` relative to the
   * workspace. A sandbox that refuses the exec (it died, was reaped) is removed and the step
   * tried once more in a new one.
   */
  async start(
    spec: StepSpec,
    imageId: string,
    workdir: string,
    env: Record<string, string>,
    create: (key: string, secretsMib: number) => Promise<Sandbox>,
  ): Promise<StepHandle> {
    const secrets = spec.secrets ?? [];
    const secretsMib = secretsMibFor(secrets);
    const key = sandboxKey(spec, imageId, secretsMib);
    const withSecrets = secrets.length > 0;
    const run = {
      script: stepScript(spec.commands, undefined, withSecrets ? secretsPreamble(containerSecretsDir, secrets, true) : undefined),
      env: containerEnv(withSecrets ? { ...env, [secretsDirVariable]: containerSecretsDir } : env),
      workdir: containerWorkdir(workdir),
      ...(withSecrets ? { stdin: secretsPayload(secrets) } : {}),
    };
    for (let attempt = 0; ; attempt += 1) {
      const sandbox = await this.#pool.acquire(key, () => create(key, secretsMib));
      try {
        let ref = '';
        const step = await SandboxStep.start(sandbox, run, {
          timeoutSec: spec.timeoutSec,
          timeoutGraceMs: this.#opts.timeoutGraceMs,
          release: (sb, healthy) => this.#pool.release(sb, healthy),
          onDestroyed: () => {
            this.#active.delete(ref);
            this.#remember(ref);
          },
        });
        ref = step.ref;
        this.#active.set(ref, { step, sandbox });
        return step;
      } catch (err) {
        await this.#pool.discard(sandbox).catch(() => undefined);
        if (attempt >= 1) throw engineError(`could not start step ${spec.step} of build ${spec.buildId} in its sandbox`, err);
      }
    }
  }

  async inspectRef(ref: string): Promise<StepFate> {
    if (this.#destroyed.has(ref)) return { state: 'gone', detail: 'it was destroyed' };
    const parsed = parseSandboxRef(ref);
    if (!parsed) return { state: 'gone', detail: `not a sandbox step: ${ref}` };
    let info: { Running: boolean; ExitCode: number | null } | undefined;
    let silent = '';
    for (const [i, docker] of [this.#opts.docker, ...(this.#opts.otherEngines?.() ?? [])].entries()) {
      try {
        info = (await docker.getExec(parsed.execId).inspect()) as { Running: boolean; ExitCode: number | null };
        break;
      } catch (err) {
        if (statusCode(err) === 404) continue;
        // Another node's engine that does not answer: its sandboxes are out of reach (a dead node's are gone).
        if (i > 0) silent = `; a node engine did not answer: ${err instanceof Error ? err.message : String(err)}`;
        else throw engineError(`could not inspect step exec ${parsed.execId}`, err);
      }
    }
    if (!info) return { state: 'gone', detail: `its sandbox no longer exists${silent}` };
    if (info.Running) return { state: 'running', detail: "it runs in the stage's sandbox, whose output cannot be read back by another process" };
    const exitCode = info.ExitCode ?? -1;
    return {
      state: 'exited',
      exitCode,
      detail: `it ended with exit code ${exitCode} in the stage's sandbox, whose output cannot be read back by another process`,
    };
  }

  async destroyRef(ref: string): Promise<void> {
    const active = this.#active.get(ref);
    if (active) {
      await active.step.destroy();
      return;
    }
    if (this.#destroyed.has(ref)) return;
    const parsed = parseSandboxRef(ref);
    if (!parsed || this.#pool.has(parsed.containerId)) return;
    await this.#opts.removeForeign(parsed.containerId);
    this.#remember(ref);
  }

  /** Refs of this process's steps running in a sandbox `match` accepts. */
  refsIn(match: (sandbox: Sandbox) => boolean): string[] {
    return [...this.#active.entries()].filter(([, a]) => match(a.sandbox)).map(([ref]) => ref);
  }

  /** This process's sandbox with container id `id` (idle or in use), if it has it. */
  find(id: string): Sandbox | undefined {
    return this.#pool.get(id);
  }

  /** Removes this process's sandboxes `match` accepts (a stage's or a build's). */
  removeWhere(match: (sandbox: Sandbox) => boolean): Promise<void> {
    return this.#pool.removeWhere(match);
  }

  #remember(ref: string): void {
    if (!ref) return;
    this.#destroyed.add(ref);
    if (this.#destroyed.size > 10_000) this.#destroyed.delete(this.#destroyed.values().next().value!);
  }
}

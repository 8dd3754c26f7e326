import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { Redis } from 'ioredis';
import { loadConfig, type ServerConfigInput } from '../src/config.js';
import { makeExecutor } from '../src/app/make-executor.js';
import type { Build } from '../src/domain/build.js';
import { isTerminal } from '../src/domain/status.js';
import type { Executor } from '../src/executor/executor.js';
import { DockerExecutor } from '../src/executor/docker/docker-executor.js';
import { SwarmExecutor } from '../src/executor/swarm/swarm-executor.js';
import { NetworkConfig } from '../src/executor/container/egress-policy.js';
import type { SandboxMode } from '../src/executor/container/sandbox-mode.js';
import { silentLogger } from '../src/logger.js';
import { createBuild } from '../src/pipeline/create-build.js';
import { keys } from '../src/storage/keys.js';
import { startHarness, type Harness } from '../test/support/bosun-harness.js';
import { makeRepo } from '../test/support/git-repo.js';

export type ExecutorKind = 'swarm' | 'docker' | 'local';

export const benchSpec = 'version: 1\nimage: bosun/busybox:1\nstages:\n  test:\n    steps:\n      - name: one\n        run: "true"\n';

/** A single-stage build of `steps` steps, each `run: "true"`. */
export function stepsSpec(steps: number): string {
  const lines = Array.from({ length: steps }, (_, i) => `      - name: s${i + 1}\n        run: "true"\n`);
  return `version: 1\nimage: bosun/busybox:1\nstages:\n  test:\n    steps:\n${lines.join('')}`;
}

/** One build's timeline, epoch ms (from the build record, plus the engine's container start). */
export interface BuildTiming {
  id: string;
  status: string;
  /** When the bench called createBuild. */
  trigger: number;
  createdAt: number;
  buildStartedAt: number;
  stageStartedAt: number;
  stepStartedAt: number;
  /** The step's container started (engine event); NaN for the local executor. */
  containerStartedAt: number;
  stepFinishedAt: number;
  stageFinishedAt: number;
  finishedAt: number;
}

/**
 * A whole Bosun in this process (server, HTTP, advance worker and `workers` stage workers)
 * on its own redis-server, with one executor, and a bench repository whose spec is one
 * `run: true` step. Build completion is seen from the event stream (XREAD), not by polling
 * the store, so the bench adds almost no work to Bosun's process.
 */
export class BosunRig {
  readonly kind: ExecutorKind;
  readonly instanceId: string;
  readonly harness: Harness;
  readonly executor: Executor;
  readonly #root: string;
  /** The server config overrides this rig started with (a separate `bosun worker` of this Bosun reads the same). */
  serverConfig: ServerConfigInput = {};
  readonly #reader: Redis;
  readonly #done = new Map<string, () => void>();
  readonly #finished = new Set<string>();
  #stopped = false;
  #loop: Promise<void> = Promise.resolve();

  private constructor(kind: ExecutorKind, instanceId: string, harness: Harness, executor: Executor, root: string) {
    this.kind = kind;
    this.instanceId = instanceId;
    this.harness = harness;
    this.executor = executor;
    this.#root = root;
    this.#reader = harness.redis.client();
  }

  static async start(
    kind: ExecutorKind,
    opts: {
      docker: Docker;
      instanceId: string;
      workers: number;
      sandbox?: SandboxMode;
      spec?: string;
      /** Clone URL of the repository to build instead of one made from `spec` (e.g. the demo). */
      repoUrl?: string;
      /** More repositories by name, each made from its spec (`trigger(name)` builds one). */
      moreRepos?: Record<string, string>;
      /** More server config (e.g. `github`, `sandboxPool`); a key this build does not know fails the start. */
      config?: Record<string, unknown>;
      /**
       * Docker and swarm: the server makes its executor from its config (`makeExecutor`, as
       * `bosun start` does) instead of the bench constructing one, so every config key that
       * reaches the executor (e.g. `sandboxPool`) takes effect.
       */
      serverExecutor?: boolean;
    },
  ): Promise<BosunRig> {
    const root = mkdtempSync(join(tmpdir(), 'bosun-bench-'));
    const repo = opts.repoUrl ? { url: opts.repoUrl } : await makeRepo(root, 'bench', { 'bosun.yml': opts.spec ?? benchSpec });
    const more: [string, string][] = [];
    for (const [name, spec] of Object.entries(opts.moreRepos ?? {})) more.push([name, (await makeRepo(root, name, { 'bosun.yml': spec })).url]);
    const sandbox = opts.sandbox ?? 'step';
    const log = silentLogger();
    let executor: Executor | undefined;
    // Steps run under the production default egress policy (`internet`: a routed bridge with its
    // iptables rules); BOSUN_BENCH_EGRESS=none measures the internal network instead.
    const egress = NetworkConfig.parse({ egress: process.env.BOSUN_BENCH_EGRESS ?? 'internet' });
    const overrides = {
      instanceId: opts.instanceId,
      workers: opts.workers,
      logLevel: 'silent',
      repos: {
        bench: { url: repo.url, defaultBranch: 'master', secrets: [] },
        ...Object.fromEntries(more.map(([name, url]) => [name, { url, defaultBranch: 'master', secrets: [] }])),
      },
      limits: { killGraceSec: 2, buildsPerMinute: 100_000 },
      network: egress,
      // A server that makes its own executor gets the executor and sandbox mode in its config too,
      // where settings that depend on them are checked (sandboxPool needs docker with sandbox: stage).
      ...(opts.serverExecutor && kind !== 'local' ? { executor: kind, sandbox } : {}),
      ...opts.config,
    } as ServerConfigInput;
    const harness = await startHarness(
      overrides,
      kind === 'local'
        ? {}
        : opts.serverExecutor
          ? {
              executorAsync: async (dataDir) => {
                executor = await makeExecutor(loadConfig({}, { ...overrides, dataDir }), log);
                return executor;
              },
            }
          : {
              executor: () => {
                executor =
                  kind === 'swarm'
                    ? new SwarmExecutor({ docker: opts.docker, instanceId: opts.instanceId, log, timeoutGraceMs: 2000, egress, sandbox })
                    : new DockerExecutor({ docker: opts.docker, instanceId: opts.instanceId, log, timeoutGraceMs: 2000, egress, sandbox });
                return executor;
              },
            },
    );
    // Build ids come from a per-Redis counter, and the engine resources are named after the id
    // alone (`bosun-b<id>`, `bosun-ws-<id>`): start far from the ids of other Bosuns (tests) on
    // this engine so that our networks and volumes are our own.
    const base = 900_000_000 + (process.pid % 10_000) * 10_000 + Math.floor(Math.random() * 1000) * 10;
    await harness.server.core.redis.set(keys(harness.server.core.prefix).buildSeq, String(base));
    const rig = new BosunRig(kind, opts.instanceId, harness, executor ?? harness.server.workers!.executor, root);
    rig.serverConfig = overrides;
    rig.#loop = rig.#readEvents();
    return rig;
  }

  /** Reads build.status events; marks builds that reached a terminal status. */
  async #readEvents(): Promise<void> {
    const key = keys(this.harness.server.core.prefix).events;
    let cursor = '$';
    while (!this.#stopped) {
      let reply: [string, [string, string[]][]][] | null;
      try {
        reply = (await this.#reader.xread('BLOCK', 500, 'STREAMS', key, cursor)) as [string, [string, string[]][]][] | null;
      } catch {
        if (this.#stopped) return;
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      for (const [, entries] of reply ?? []) {
        for (const [id, fields] of entries) {
          cursor = id;
          const raw = fields[fields.indexOf('e') + 1];
          if (!raw || !raw.includes('"build.status"')) continue;
          const event = JSON.parse(raw) as { type: string; buildId: string; status: Build['status'] };
          if (event.type !== 'build.status' || !isTerminal(event.status)) continue;
          this.#finished.add(event.buildId);
          this.#done.get(event.buildId)?.();
        }
      }
    }
  }

  async #waitFinished(id: string, timeoutMs = 120_000): Promise<void> {
    if (this.#finished.has(id)) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`build #${id} did not finish within ${timeoutMs} ms`)), timeoutMs);
      this.#done.set(id, () => {
        clearTimeout(timer);
        resolve();
      });
      if (this.#finished.has(id)) this.#done.get(id)!();
    });
    this.#done.delete(id);
  }

  /** Triggers one build of `repo` (not waiting for it); returns its id and the trigger time. */
  async trigger(repo = 'bench'): Promise<{ id: string; t0: number }> {
    const t0 = Date.now();
    const { build } = await createBuild(this.harness.server.core.deps, {
      repo,
      ref: 'master',
      trigger: { event: 'manual', source: 'cli', actor: { id: 'cli:bench', name: 'bench' } },
    });
    if (!build) throw new Error('createBuild returned no build');
    return { id: build.id, t0 };
  }

  async finished(id: string, timeoutMs = 120_000): Promise<void> {
    await this.#waitFinished(id, timeoutMs);
  }

  /** The build's timeline from its record (call after it finished). */
  async timing(id: string, t0: number, containerStartedAt: number | undefined): Promise<BuildTiming> {
    const b = await this.harness.server.core.store.require(id);
    const stage = b.stages[0];
    const step = stage?.steps[0];
    const at = (iso: string | undefined) => (iso ? Date.parse(iso) : NaN);
    return {
      id,
      status: b.status,
      trigger: t0,
      createdAt: at(b.createdAt),
      buildStartedAt: at(b.startedAt),
      stageStartedAt: at(stage?.startedAt),
      stepStartedAt: at(step?.startedAt),
      containerStartedAt: containerStartedAt ?? NaN,
      stepFinishedAt: at(step?.finishedAt),
      stageFinishedAt: at(stage?.finishedAt),
      finishedAt: at(b.finishedAt),
    };
  }

  /** Removes the build's engine resources (network, volume) again, so runs start alike (Bosun also does, in the background, 3 s after the build finished). */
  async cleanupBuild(id: string): Promise<void> {
    await this.executor.cleanupBuild(id).catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
    this.#reader.disconnect();
    const reapable = this.executor as Executor & { reapBuilds?: (isLive: (id: string) => boolean) => Promise<string[]> };
    await this.executor.reap(() => false).catch(() => undefined);
    await reapable.reapBuilds?.(() => false).catch(() => undefined);
    await this.harness.stop();
    rmSync(this.#root, { recursive: true, force: true });
  }
}

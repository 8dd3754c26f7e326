import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { labelKeys, type Executor, type OutputChunk, type StepHandle, type StepOutcome, type StepSpec } from '../../src/executor/executor.js';

/** What the contract suite needs from one executor under test. */
export interface ContractHarness {
  executor: Executor;
  /** Image for quick steps (busybox). */
  image: string;
  /** Image with git and python3. */
  baseImage: string;
  /** Whether the executor enforces a memory limit (containers); local has none. */
  enforcesMemory: boolean;
  /** Names of live resources (processes, containers, services) carrying this build label. */
  stepResources(buildId: string): Promise<string[]>;
  /** Names of per-build resources (network, volume) left for this build. */
  buildResources(buildId: string): Promise<string[]>;
  /** Container executors: the isolation settings of the real container/service behind `ref`. */
  inspectIsolation?(ref: string): Promise<IsolationFacts>;
  /** Whether a step can be taken back after its handle's process died (`reattach`); local cannot. */
  reattaches?: boolean;
  /**
   * Whether `inspectRef` tells an ended step's exit code although `reattach` cannot take the
   * step back (`sandbox: stage`: the engine keeps an exec's exit code, not its output).
   */
  knowsExitWithoutReattach?: boolean;
  /** Whether the executor makes per-build resources (network, volume); local makes none. */
  perBuildResources: boolean;
  /** Sweep per-build resources of builds `isLive` rejects. */
  reapBuilds(isLive: (buildId: string) => boolean): Promise<string[]>;
  /** Remove everything this test run created (by label) and close the executor. */
  close(): Promise<void>;
}

export interface IsolationFacts {
  privileged: boolean;
  capAdd: string[];
  capDrop: string[];
  bindMounts: string[];
  readonlyRootfs: boolean;
  user: string;
  pidsLimit: number;
  memoryBytes: number;
  nanoCpus: number;
  networksInternal: boolean[];
}

export const runId = `${process.pid}x${Math.random().toString(36).slice(2, 7)}`;

export function makeWorkspace(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bosun-ws-test-'));
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'README'), 'the checkout\n');
  writeFileSync(join(dir, 'sub', 'marker.txt'), 'in sub\n');
  const git = (...args: string[]): void => {
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], { cwd: dir, stdio: 'ignore' });
  };
  git('init', '-q', '-b', 'master');
  git('add', '.');
  git('commit', '-q', '-m', 'initial');
  return dir;
}

let counter = 0;

export function makeSpec(base: { workspace: string; image: string; buildId: string }, over: Partial<StepSpec> = {}): StepSpec {
  counter += 1;
  const step = over.step ?? `s${counter}`;
  const buildId = over.buildId ?? base.buildId;
  return {
    buildId,
    stage: 'test',
    step,
    image: base.image,
    commands: ['true'],
    env: {},
    workspace: base.workspace,
    workdir: '.',
    timeoutSec: 60,
    limits: { cpus: 1, memoryBytes: 128 * 2 ** 20, pids: 256 },
    labels: { [labelKeys.build]: buildId, [labelKeys.stage]: 'test', [labelKeys.step]: step },
    ...over,
  };
}

export interface Collected {
  stdout: string;
  stderr: string;
  chunks: OutputChunk[];
}

export async function collect(output: AsyncIterable<OutputChunk>, onChunk?: (text: string) => void): Promise<Collected> {
  const chunks: OutputChunk[] = [];
  const parts = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  for await (const chunk of output) {
    chunks.push(chunk);
    parts[chunk.stream].push(chunk.data);
    onChunk?.(Buffer.concat(parts.stdout).toString());
  }
  return { stdout: Buffer.concat(parts.stdout).toString(), stderr: Buffer.concat(parts.stderr).toString(), chunks };
}

/** Run a step to the end: its outcome and its whole output. Always destroys it. */
export async function runStep(executor: Executor, spec: StepSpec): Promise<{ outcome: StepOutcome; out: Collected; handle: StepHandle }> {
  const handle = await executor.start(spec);
  try {
    const [outcome, out] = await Promise.all([handle.wait(), collect(handle.output)]);
    return { outcome, out, handle };
  } finally {
    await handle.destroy();
  }
}

/** A TCP server on all interfaces that greets and records every connection. */
export async function greeter(): Promise<{ port: number; connections: number; close(): Promise<void> }> {
  const state = { connections: 0 };
  const server: Server = createServer((socket) => {
    state.connections += 1;
    socket.end('HELLO-BOSUN\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    get connections() {
      return state.connections;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Every IPv4 address of this host, loopback included. */
export function hostAddresses(): string[] {
  const addresses = new Set<string>(['127.0.0.1']);
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) if (info.family === 'IPv4') addresses.add(info.address);
  }
  return [...addresses];
}

export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { BuildNetworks } from '../src/executor/container/build-network.js';
import { WorkspaceVolumes } from '../src/executor/container/workspace-volume.js';
import { resolveImage } from '../src/executor/container/resolve-image.js';
import { checkout } from '../src/git/checkout.js';
import { GitMirrors } from '../src/git/git-mirrors.js';
import { resolveRef } from '../src/git/git.js';
import { makeRepo } from '../test/support/git-repo.js';
import { benchSpec } from './bosun-rig.js';
import { bareServiceOnce } from './floor.js';
import { summarize, type Summary } from './stats.js';

/**
 * The pieces Bosun adds around one step, each timed alone (median of `n` after one warm-up):
 * git (ref resolution, checkout), the per-build network and workspace volume, image
 * resolution, and what attaching that network and volume costs a bare one-shot service.
 */
export async function timePieces(docker: Docker, imageId: string, benchId: string, n = 6): Promise<Record<string, Summary>> {
  const root = mkdtempSync(join(tmpdir(), 'bosun-bench-pieces-'));
  const instanceId = `${benchId}-pieces`;
  const samples = new Map<string, number[]>();
  const time = async <T>(name: string, warm: boolean, fn: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    const out = await fn();
    if (!warm) samples.set(name, [...(samples.get(name) ?? []), performance.now() - t]);
    return out;
  };
  const swarmNets = new BuildNetworks(docker, 'swarm-bridge', instanceId);
  const bridgeNets = new BuildNetworks(docker, 'bridge', instanceId);
  const volumes = new WorkspaceVolumes(docker, instanceId);
  try {
    const repo = await makeRepo(root, 'bench', { 'bosun.yml': benchSpec });
    const mirrors = new GitMirrors(join(root, 'git-mirrors'));
    for (let i = 0; i <= n; i++) {
      const warm = i === 0;
      const sha = await time('git ls-remote (createBuild: resolveRef)', warm, () => resolveRef(repo.url, 'master'));
      const dir = join(root, 'ws', String(i));
      await time('git checkout, fresh (startBuild: clone --depth=1 from the host mirror, which has the commit)', warm, () =>
        checkout(repo.url, sha, dir, { mirrors }),
      );
      await time('git checkout, existing (runStage: .git/HEAD check)', warm, () => checkout(repo.url, sha, dir, { mirrors }));
      await time('resolveImage (image inspect)', warm, () => resolveImage(docker, 'bosun/busybox:1'));

      const id = `${benchId}-p${i}`;
      const netId = await time('swarm-bridge network + config network: create', warm, () => swarmNets.ensure(id));
      const volume = await time('workspace volume: create + helper + putArchive(tar) + rename', warm, () => volumes.ensure(id, dir, imageId));
      await time('bare one-shot service (floor B)', warm, () => bareServiceOnce(docker, imageId, benchId, `pb${process.pid}-${i}`));
      await time('bare one-shot service + build network', warm, () =>
        bareServiceOnce(docker, imageId, benchId, `pm${process.pid}-${i}`, 100, { Networks: [{ Target: netId }] }),
      );
      await time('bare one-shot service + workspace volume mount', warm, () =>
        bareServiceOnce(docker, imageId, benchId, `pv${process.pid}-${i}`, 100, {
          Mounts: [{ Type: 'volume', Source: volume, Target: '/workspace' }],
        }),
      );
      await time('bare one-shot service + build network + volume mount', warm, () =>
        bareServiceOnce(docker, imageId, benchId, `pn${process.pid}-${i}`, 100, {
          Networks: [{ Target: netId }],
          Mounts: [{ Type: 'volume', Source: volume, Target: '/workspace' }],
        }),
      );
      await time('workspace volume: remove (marker + volume)', warm, () => volumes.remove(id));
      await time('swarm-bridge network + config network: remove', warm, () => swarmNets.remove(id));
      const bid = `${benchId}-q${i}`;
      await time('bridge network (docker executor): create', warm, () => bridgeNets.ensure(bid));
      await time('bridge network (docker executor): remove', warm, () => bridgeNets.remove(bid));
    }
    // What one child process costs Bosun's own process (fork/exec from a ~150 MiB process),
    // in CPU ms of this process: every git call and the workspace tar is one.
    const spawnCpu: number[] = [];
    for (let i = 0; i < 20; i++) {
      const c0 = process.cpuUsage();
      await promisify(execFile)('git', ['--version']);
      const c = process.cpuUsage(c0);
      spawnCpu.push((c.user + c.system) / 1000);
    }
    samples.set('one child process (git --version): CPU ms in the parent', spawnCpu.slice(2));
  } finally {
    for (let i = 0; i <= n; i++) {
      await volumes.remove(`${benchId}-p${i}`).catch(() => undefined);
      await swarmNets.remove(`${benchId}-p${i}`).catch(() => undefined);
      await bridgeNets.remove(`${benchId}-q${i}`).catch(() => undefined);
    }
    rmSync(root, { recursive: true, force: true });
  }
  return Object.fromEntries([...samples].map(([k, v]) => [k, summarize(v)]));
}

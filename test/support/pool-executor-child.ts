/**
 * A child process for test/executor/pool-crash.test.ts: a docker executor with a warm pool of
 * `POOL_SIZE` (busybox), two builds' stages each running `sleep 600` in a claimed sandbox. It
 * prints one JSON line once both steps run and the pool refilled, then waits to be killed.
 */
import Docker from 'dockerode';
import { DockerExecutor } from '../../src/executor/docker/docker-executor.js';
import { silentLogger } from '../../src/logger.js';
import { makeSpec, makeWorkspace, collect, waitFor } from '../executor/contract-support.js';

const instanceId = process.env.POOL_INSTANCE ?? 'x';
const size = Number(process.env.POOL_SIZE ?? '3');
const image = 'bosun/busybox:1';
const executor = new DockerExecutor({
  docker: new Docker(),
  instanceId,
  log: silentLogger(),
  timeoutGraceMs: 1000,
  sandbox: 'stage',
  pool: { size, images: [image], idleSec: 600, limits: { cpus: 1, memoryBytes: 128 * 2 ** 20, pids: 256 } },
});
await waitFor('the pool to be ready', () => executor.warmPool?.readyCount === size, 120_000);
const workspace = makeWorkspace();
const builds = ['crash1', 'crash2'];
const handles = await Promise.all(builds.map((buildId) => executor.start(makeSpec({ workspace, image, buildId }, { commands: ['sleep 600'] }))));
for (const h of handles) void collect(h.output).catch(() => undefined);
await waitFor('the pool to refill', () => executor.warmPool?.readyCount === size, 120_000);
process.stdout.write(
  `${JSON.stringify({ refs: handles.map((h) => h.ref), where: handles.map((h) => h.where), keys: await Promise.all(builds.map((b) => executor.workspaceKey(b))) })}\n`,
);
setInterval(() => undefined, 60_000);

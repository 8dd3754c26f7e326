/**
 * One-step latency per executor, end to end (start → output drained → outcome → destroy),
 * next to the floors: `docker run --rm` and a bare one-shot service via the API.
 * Then the wall time of `concurrent` one-step builds started at once (executors) against as
 * many bare one-shot services.
 * Not a test. Run: npx tsx bench/executor-latency.ts [runs=10] [concurrent=20]
 */
import { execFileSync } from 'node:child_process';
import Docker from 'dockerode';
import { silentLogger } from '../src/logger.js';
import type { Executor } from '../src/executor/executor.js';
import { DockerExecutor } from '../src/executor/docker/docker-executor.js';
import { LocalExecutor } from '../src/executor/local/local-executor.js';
import { SwarmExecutor } from '../src/executor/swarm/swarm-executor.js';
import { collect, makeSpec, makeWorkspace } from '../test/executor/contract-support.js';
import { busyboxImage } from '../test/executor/docker-harness.js';

const runs = Number(process.argv[2] ?? 10);
const concurrent = Number(process.argv[3] ?? 20);
const docker = new Docker();
const workspace = makeWorkspace();
const instanceId = `measure-${process.pid}`;

async function timeExecutor(executor: Executor): Promise<number[]> {
  const buildId = `m${process.pid}${executor.name}`;
  const times: number[] = [];
  for (let i = 0; i <= runs; i += 1) {
    const started = performance.now();
    const handle = await executor.start(makeSpec({ workspace, image: busyboxImage, buildId }, { commands: ['true'] }));
    await Promise.all([handle.wait(), collect(handle.output)]);
    await handle.destroy();
    if (i > 0) times.push(performance.now() - started);
  }
  await executor.cleanupBuild(buildId);
  await executor.close();
  return times;
}

async function concurrentExecutor(executor: Executor): Promise<number> {
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrent }, async (_, i) => {
      const buildId = `cc${process.pid}${executor.name}${i}`;
      const handle = await executor.start(makeSpec({ workspace, image: busyboxImage, buildId }, { commands: ['true'] }));
      await Promise.all([handle.wait(), collect(handle.output)]);
      await handle.destroy();
      await executor.cleanupBuild(buildId);
    }),
  );
  const elapsed = performance.now() - started;
  await executor.close();
  return elapsed;
}

async function concurrentBare(imageId: string): Promise<number> {
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrent }, (_, i) => bareService(imageId, `cbare-${process.pid}-${i}`)));
  return performance.now() - started;
}

async function bareService(imageId: string, name: string): Promise<void> {
  const created = (await docker.createService({
    Name: name,
    TaskTemplate: {
      ContainerSpec: { Image: imageId, Command: ['/bin/sh', '-c', 'true'] },
      RestartPolicy: { Condition: 'none' },
      LogDriver: { Name: 'json-file' },
    },
    Mode: { Replicated: { Replicas: 1 } },
  })) as { id: string };
  for (;;) {
    const tasks = (await docker.listTasks({ filters: JSON.stringify({ service: [created.id] }) })) as Array<{ Status: { State: string } }>;
    if (tasks[0] && ['complete', 'failed', 'rejected'].includes(tasks[0].Status.State)) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await docker.getService(created.id).remove();
}

async function timeBareService(imageId: string): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i <= runs; i += 1) {
    const started = performance.now();
    const created = (await docker.createService({
      Name: `bare-${process.pid}-${i}`,
      TaskTemplate: {
        ContainerSpec: { Image: imageId, Command: ['/bin/sh', '-c', 'true'] },
        RestartPolicy: { Condition: 'none' },
        LogDriver: { Name: 'json-file' },
      },
      Mode: { Replicated: { Replicas: 1 } },
    })) as { id: string };
    for (;;) {
      const tasks = (await docker.listTasks({ filters: JSON.stringify({ service: [created.id] }) })) as Array<{ Status: { State: string } }>;
      if (tasks[0] && ['complete', 'failed', 'rejected'].includes(tasks[0].Status.State)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await docker.getService(created.id).remove();
    if (i > 0) times.push(performance.now() - started);
  }
  return times;
}

function timeDockerRun(): number[] {
  const times: number[] = [];
  for (let i = 0; i <= runs; i += 1) {
    const started = performance.now();
    execFileSync('docker', ['run', '--rm', busyboxImage, 'true']);
    if (i > 0) times.push(performance.now() - started);
  }
  return times;
}

function summary(name: string, times: number[]): string {
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  const p90 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.9))] ?? 0;
  return `${name.padEnd(34)} median ${median.toFixed(0).padStart(5)} ms   p90 ${p90.toFixed(0).padStart(5)} ms   (n=${times.length})`;
}

const imageId = (await docker.getImage(busyboxImage).inspect()).Id;
const log = silentLogger();
console.log(summary('local executor', await timeExecutor(new LocalExecutor({ instanceId, dataDir: `/tmp/${instanceId}`, log }))));
console.log(summary('floor: docker run --rm (CLI)', timeDockerRun()));
console.log(summary('docker executor', await timeExecutor(new DockerExecutor({ docker, instanceId, log }))));
console.log(summary('floor: bare one-shot service (API)', await timeBareService(imageId)));
console.log(summary('swarm executor', await timeExecutor(new SwarmExecutor({ docker, instanceId, log }))));
console.log(
  `${concurrent} at once: bare services ${(await concurrentBare(imageId)).toFixed(0)} ms, swarm executor ${(await concurrentExecutor(new SwarmExecutor({ docker, instanceId, log }))).toFixed(0)} ms, docker executor ${(await concurrentExecutor(new DockerExecutor({ docker, instanceId, log }))).toFixed(0)} ms`,
);

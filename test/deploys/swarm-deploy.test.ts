import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { requireDocker } from '../support/require-docker.js';
import { startRedis, type TestRedis } from '../support/redis-server.js';
import { publishImage, removePublishedImages, recordBuild, recordPublication, startLocalRegistry, type LocalRegistry } from '../support/published-image.js';
import { BuildStore } from '../../src/storage/build-store.js';
import { AuditLog } from '../../src/storage/audit-log.js';
import { DeployStore } from '../../src/deploys/deploy-store.js';
import { DeployManager } from '../../src/deploys/deploy-manager.js';
import { SwarmServiceDeployTarget, deployLabel } from '../../src/deploys/swarm-service-target.js';
import { SwarmServiceTarget } from '../../src/deploys/environment-config.js';
import type { DockerPublication } from '../../src/domain/publication.js';
import type { Deploy } from '../../src/domain/deploy.js';
import type { DeployTarget } from '../../src/deploys/deploy-target.js';
import { silentLogger } from '../../src/logger.js';

// A real single-node swarm: a service is the staging target; deploys update it to digests a
// real registry holds, and a broken image (its HEALTHCHECK fails) is rolled back by Swarm itself.
const docker = new Docker();
const serviceName = `bosun-test-deploy-${process.pid}`;
let redis: TestRedis;
let registry: LocalRegistry;
let v1: DockerPublication, v2: DockerPublication, v3: DockerPublication, broken: DockerPublication;
let available = true;

before(async () => {
  available = await requireDocker();
  if (!available) return;
  redis = await startRedis();
  registry = await startLocalRegistry();
  const name = `bosun-test/app-${process.pid}`;
  v1 = await publishImage(registry, name, { tag: 'v1' });
  v2 = await publishImage(registry, name, { tag: 'v2' });
  v3 = await publishImage(registry, name, { tag: 'v3' });
  broken = await publishImage(registry, name, { tag: 'broken', healthy: false });
  // On this engine's node: its images come from a registry on this host's loopback, which a
  // second node (another test may join one to the swarm) cannot reach.
  const nodeId = ((await docker.info()) as { Swarm: { NodeID: string } }).Swarm.NodeID;
  await docker.createService({
    Name: serviceName,
    Labels: { 'bosun.test': 'deploys' },
    TaskTemplate: {
      ContainerSpec: { Image: v1.ref, StopGracePeriod: 1e9 } as never,
      RestartPolicy: { Condition: 'any', MaxAttempts: 0 },
      Placement: { Constraints: [`node.id == ${nodeId}`] },
      LogDriver: { Name: 'json-file' },
    },
    Mode: { Replicated: { Replicas: 1 } },
  } as never);
});

after(async () => {
  if (!available) return;
  await docker
    .getService(serviceName)
    .remove()
    .catch(() => undefined);
  await removePublishedImages([v1, v2, v3, broken]);
  await registry?.stop();
  await redis?.stop();
});

async function serviceImage(): Promise<string> {
  const info = (await docker.getService(serviceName).inspect()) as { Spec: { TaskTemplate: { ContainerSpec: { Image: string } } } };
  return info.Spec.TaskTemplate.ContainerSpec.Image;
}

/** The image of the service's running task (what actually runs, not only the spec). */
async function runningTaskImage(): Promise<string[]> {
  const tasks = (await docker.listTasks({ filters: JSON.stringify({ service: [serviceName], 'desired-state': ['running'] }) })) as {
    Status: { State: string };
    Spec: { ContainerSpec: { Image: string } };
  }[];
  return tasks.filter((t) => t.Status.State === 'running').map((t) => t.Spec.ContainerSpec.Image);
}

async function waitDeploy(store: DeployStore, id: string, timeoutMs = 150_000): Promise<Deploy> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const d = await store.get(id);
    if (d && ['succeeded', 'failed', 'rolled_back', 'superseded', 'refused'].includes(d.state)) return d;
    if (Date.now() > deadline) throw new Error(`deploy ${id} did not finish: ${JSON.stringify(d)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test(
  'a swarm-service deploy runs the new digest; a broken image is rolled back by Swarm and the previous digest keeps running',
  { timeout: 400_000 },
  async (t) => {
    if (!available) return t.skip('no Docker');
    const client = redis.client();
    const builds = new BuildStore(client, 'sw');
    const store = new DeployStore(client, 'sw');
    const cfg = SwarmServiceTarget.parse({ name: serviceName, updateOrder: 'start-first', monitorSec: 3, healthTimeoutSec: 120 });
    const manager = new DeployManager({
      environments: { staging: { repo: 'acme/api', requires: [], target: { swarmService: cfg } } },
      approvalsRequired: () => 1,
      store,
      builds,
      audit: new AuditLog(client, 'sw'),
      log: silentLogger(),
      target: () => new SwarmServiceDeployTarget(docker, cfg, silentLogger()),
    });
    const actor = { id: 'cli:alice', name: 'alice' };
    const good = await recordBuild(builds, { repo: 'acme/api', sha: 'b'.repeat(40) });
    await recordPublication(builds, good.id, v2);
    const bad = await recordBuild(builds, { repo: 'acme/api', sha: 'c'.repeat(40) });
    await recordPublication(builds, bad.id, broken);

    const first = await manager.request({ repo: 'acme/api', selector: good.id, environment: 'staging', kind: 'deploy', actor, source: 'cli' });
    const done = await waitDeploy(store, first.deploy.id);
    assert.equal(done.state, 'succeeded', done.reason);
    assert.equal(await serviceImage(), v2.ref);
    assert.deepEqual(await runningTaskImage(), [v2.ref]);

    const second = await manager.request({ repo: 'acme/api', selector: bad.id, environment: 'staging', kind: 'deploy', actor, source: 'cli' });
    const failed = await waitDeploy(store, second.deploy.id);
    assert.equal(failed.state, 'rolled_back', failed.reason);
    assert.match(failed.reason ?? '', /rolled .* back/);
    assert.equal(await serviceImage(), v2.ref, 'the service spec is the previous digest again');
    assert.deepEqual(await runningTaskImage(), [v2.ref], 'the task that runs is the previous digest');
    await manager.close();
  },
);

test(
  'a runner killed with -9 mid-deploy: the environment stays held until the watchdog resolves it from the service, which was updated once',
  { timeout: 300_000 },
  async (t) => {
    if (!available) return t.skip('no Docker');
    const client = redis.client();
    const prefix = 'kill9';
    const builds = new BuildStore(client, prefix);
    const store = new DeployStore(client, prefix);
    const build = await recordBuild(builds, { repo: 'acme/api', sha: 'd'.repeat(40) });
    await recordPublication(builds, build.id, v3);
    const before = (await docker.getService(serviceName).inspect()) as { Version: { Index: number } };

    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'deploy-runner-child.ts'), redis.url, prefix, serviceName, build.id], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((r) => child.once('exit', r));
    let id = '';
    const deadline = Date.now() + 60_000;
    try {
      for (;;) {
        id ||= /deploy (\d+)/.exec(String(child.stdout.read() ?? ''))?.[1] ?? '';
        const d = id ? await store.get(id) : null;
        const labels = ((await docker.getService(serviceName).inspect()) as { Spec: { Labels?: Record<string, string> } }).Spec.Labels ?? {};
        if (d?.state === 'running' && labels['bosun.deploy'] === deployLabel(d)) break; // the update reached Swarm
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the child never sent the update: ${JSON.stringify(d)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    assert.equal((await store.get(id))?.state, 'running', 'killed mid-deploy');
    assert.ok(await store.mutexHolder('staging'), 'the environment is still held by the dead runner');

    const cfg = SwarmServiceTarget.parse({ name: serviceName, monitorSec: 3, healthTimeoutSec: 120 });
    let applies = 0;
    const real = new SwarmServiceDeployTarget(docker, cfg, silentLogger());
    const counting: DeployTarget = { apply: (d, s) => (applies++, real.apply(d, s)), observe: (d) => real.observe(d), current: () => real.current() };
    const survivor = new DeployManager({
      environments: { staging: { repo: 'acme/api', requires: [], target: { swarmService: cfg } } },
      approvalsRequired: () => 1,
      store,
      builds,
      audit: new AuditLog(client, prefix),
      log: silentLogger(),
      target: () => counting,
      leaseMs: 1500,
    });
    let resolved: Deploy | null = null;
    const until = Date.now() + 120_000;
    while (Date.now() < until) {
      await survivor.watchdogPass();
      resolved = await store.get(id);
      if (resolved && resolved.state !== 'running') break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const seen = (await docker.getService(serviceName).inspect()) as { UpdateStatus?: unknown; Spec: { Labels?: unknown } };
    assert.equal(resolved?.state, 'succeeded', `${resolved?.reason ?? ''} service: ${JSON.stringify({ u: seen.UpdateStatus, l: seen.Spec.Labels })}`);
    assert.match(resolved?.reason ?? '', /resolved by the watchdog after its runner stopped/);
    assert.equal(applies, 0, 'the survivor never applied it again');
    assert.equal(await store.mutexHolder('staging'), null, 'the environment is free again');
    const after = (await docker.getService(serviceName).inspect()) as {
      Version: { Index: number };
      Spec: { Labels: Record<string, string>; TaskTemplate: { ContainerSpec: { Image: string } } };
    };
    assert.equal(after.Spec.TaskTemplate.ContainerSpec.Image, v3.ref);
    assert.equal(after.Spec.Labels['bosun.deploy'], deployLabel(resolved!), "the update the service runs is the dead runner's one");
    assert.ok(after.Version.Index > before.Version.Index);
    await survivor.close();
  },
);

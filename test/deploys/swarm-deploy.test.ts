import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import { requireDocker } from '../support/require-docker.js';
import { startRedis, type TestRedis } from '../support/redis-server.js';
import { publishImage, recordBuild, recordPublication, startLocalRegistry, type LocalRegistry } from '../support/published-image.js';
import { BuildStore } from '../../src/storage/build-store.js';
import { AuditLog } from '../../src/storage/audit-log.js';
import { EventBus } from '../../src/events/event-bus.js';
import { DeployStore } from '../../src/deploys/deploy-store.js';
import { DeployManager } from '../../src/deploys/deploy-manager.js';
import { SwarmServiceDeployTarget } from '../../src/deploys/swarm-service-target.js';
import { SwarmServiceTarget } from '../../src/deploys/environment-config.js';
import type { DockerPublication } from '../../src/domain/publication.js';
import type { Deploy } from '../../src/domain/deploy.js';
import { silentLogger } from '../../src/logger.js';

// A real single-node swarm: a service is the staging target; deploys update it to digests a
// real registry holds, and a broken image (its HEALTHCHECK fails) is rolled back by Swarm itself.
const docker = new Docker();
const serviceName = `bosun-test-deploy-${process.pid}`;
let redis: TestRedis;
let registry: LocalRegistry;
let v1: DockerPublication, v2: DockerPublication, broken: DockerPublication;
let available = true;

before(async () => {
  available = await requireDocker();
  if (!available) return;
  redis = await startRedis();
  registry = await startLocalRegistry();
  const name = `bosun-test/app-${process.pid}`;
  v1 = await publishImage(registry, name, { tag: 'v1' });
  v2 = await publishImage(registry, name, { tag: 'v2' });
  broken = await publishImage(registry, name, { tag: 'broken', healthy: false });
  await docker.createService({
    Name: serviceName, Labels: { 'bosun.test': 'deploys' },
    TaskTemplate: { ContainerSpec: { Image: v1.ref, StopGracePeriod: 1e9 } as never, RestartPolicy: { Condition: 'any', MaxAttempts: 0 }, LogDriver: { Name: 'json-file' } },
    Mode: { Replicated: { Replicas: 1 } },
  } as never);
});

after(async () => {
  if (!available) return;
  await docker.getService(serviceName).remove().catch(() => undefined);
  await registry?.stop();
  await redis?.stop();
});

async function serviceImage(): Promise<string> {
  const info = (await docker.getService(serviceName).inspect()) as { Spec: { TaskTemplate: { ContainerSpec: { Image: string } } } };
  return info.Spec.TaskTemplate.ContainerSpec.Image;
}

/** The image of the service's running task (what actually runs, not only the spec). */
async function runningTaskImage(): Promise<string[]> {
  const tasks = (await docker.listTasks({ filters: JSON.stringify({ service: [serviceName], 'desired-state': ['running'] }) })) as { Status: { State: string }; Spec: { ContainerSpec: { Image: string } } }[];
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

test('a swarm-service deploy runs the new digest; a broken image is rolled back by Swarm and the previous digest keeps running', { timeout: 400_000 }, async (t) => {
  if (!available) return t.skip('no Docker');
  const client = redis.client();
  const builds = new BuildStore(client, 'sw');
  const store = new DeployStore(client, 'sw');
  const cfg = SwarmServiceTarget.parse({ name: serviceName, updateOrder: 'start-first', monitorSec: 3, healthTimeoutSec: 120 });
  const manager = new DeployManager({
    environments: { staging: { repo: 'acme/api', requires: [], target: { swarmService: cfg } } },
    approvalsRequired: () => 1, store, builds, bus: new EventBus(client, silentLogger(), 'sw'), audit: new AuditLog(client, 'sw'), log: silentLogger(),
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
});

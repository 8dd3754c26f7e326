import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { requireDocker } from '../support/require-docker.js';
import { DockerExecutor } from '../../src/executor/docker/docker-executor.js';
import { SwarmExecutor } from '../../src/executor/swarm/swarm-executor.js';
import { labelKeys, type Executor } from '../../src/executor/executor.js';
import { silentLogger } from '../../src/logger.js';
import type { Build } from '../../src/domain/build.js';
import { serviceSpecFor } from '../../src/pipeline/stage-services.js';
import { loadConfig } from '../../src/config.js';
import { toSwarmServiceSpec } from '../../src/executor/swarm/swarm-service.js';
import { pickStep } from '../../src/app/build-service.js';
import { startWorkerPool } from '../../src/app/start-worker-pool.js';
import { containerIsolation } from '../executor/docker-harness.js';
import { buildNetworkName } from '../../src/executor/container/resource-names.js';
import { LocalExecutor } from '../../src/executor/local/local-executor.js';

// Issue 12 part 3: `services:` on a stage start real server containers (a Redis made locally
// by scripts/build-base-images.sh) on the build's network, reachable by name from the steps,
// on both container executors.
const redisImage = 'bosun/redis-test:7';
const runId = `${process.pid}x${Math.random().toString(36).slice(2, 6)}`;

interface Scenario {
  name: string;
  services: string[];
  steps: string[];
  check(h: Harness, b: Build): Promise<void>;
}

/** The YAML of one stage `test` with the given services and steps (each already indented). */
function spec(services: string[], steps: string[]): string {
  return ['version: 1', `image: ${redisImage}`, 'stages:', '  test:', '    services:', ...services, '    steps:', ...steps, ''].join('\n');
}

async function log(h: Harness, id: string, step: string): Promise<string> {
  const res = await h.api('GET', `/api/builds/${id}/logs/test/${step}`);
  return String(res.json);
}

const scenarios: Scenario[] = [
  {
    name: 'services become ready and the steps reach them by name (a run probe and a tcp probe)',
    services: [
      '      cache:',
      `        image: ${redisImage}`,
      '        ready: { run: redis-cli ping, interval: 1s, timeout: 60s }',
      '      store:',
      `        image: ${redisImage}`,
      '        command: [redis-server, --port, "6380", --save, "", --dir, /tmp, --protected-mode, "no"]',
      '        ready: { tcp: 6380, timeout: 60s }',
      '        limits: { cpus: 0.5, memory: 128M }',
    ],
    steps: [
      '      - name: talk',
      '        run:',
      '          - redis-cli -h cache set greeting hello',
      '          - echo "cache says $(redis-cli -h cache get greeting)"',
      '          - echo "store says $(redis-cli -h store -p 6380 ping)"',
    ],
    async check(h, b) {
      assert.equal(b.status, 'success', JSON.stringify(b.stages));
      const talk = await log(h, b.id, 'talk');
      assert.match(talk, /cache says hello/);
      assert.match(talk, /store says PONG/);
      assert.match(await log(h, b.id, 'service:cache'), /Ready to accept connections/);
      assert.match(await log(h, b.id, 'service:store'), /Ready to accept connections/);
    },
  },
  {
    name: 'a service never ready within its timeout fails the stage with its last log lines',
    services: ['      db:', `        image: ${redisImage}`, '        ready: { tcp: 6399, timeout: 4s }'],
    steps: ['      - name: first', '        run: echo never runs', '      - name: second', '        run: echo never runs either'],
    async check(h, b) {
      assert.equal(b.status, 'failed');
      const [first, second] = b.stages[0]!.steps;
      assert.deepEqual([first!.status, first!.reason, second!.status], ['failed', 'service_failed', 'skipped']);
      const text = await log(h, b.id, 'first');
      assert.match(text, /service `db` \(bosun\/redis-test:7\) was never ready: not ready after 4 s/);
      assert.match(text, /db \| .*Ready to accept connections/);
      assert.doesNotMatch(text, /never runs/);
    },
  },
  {
    name: 'a service that crashes while starting fails the stage with what it wrote',
    services: [
      '      db:',
      `        image: ${redisImage}`,
      `        command: [sh, -c, 'echo booting; echo "fatal: no configuration" >&2; exit 3']`,
      '        ready: { run: redis-cli ping, timeout: 60s }',
    ],
    steps: ['      - name: first', '        run: echo never runs'],
    async check(h, b) {
      assert.equal(b.status, 'failed');
      assert.equal(b.stages[0]!.steps[0]!.reason, 'service_failed');
      const text = await log(h, b.id, 'first');
      assert.match(text, /service `db` \(bosun\/redis-test:7\) stopped: it exited with code 3/);
      assert.match(text, /db \| booting/);
      assert.match(text, /db \| fatal: no configuration/);
    },
  },
  {
    name: 'a service whose image is not on the engine fails the stage and says which',
    services: ['      db: { image: bosun/no-such-image:1 }'],
    steps: ['      - name: first', '        run: echo never runs'],
    async check(h, b) {
      assert.equal(b.status, 'failed');
      assert.equal(b.stages[0]!.steps[0]!.reason, 'service_failed');
      assert.match(await log(h, b.id, 'first'), /the step did not run: service `db`: image bosun\/no-such-image:1 is not available on this engine/);
    },
  },
  {
    name: 'a service that dies while the steps run fails the next step with its last lines',
    // The first step tells the service to go (no race between a timed death and the engine's
    // start and probe latency), waits until it no longer answers, then leaves the engine a
    // margin to record the exit before the next step's check.
    services: [
      '      db:',
      `        image: ${redisImage}`,
      `        command: [sh, -c, 'redis-server --save "" --dir /tmp --protected-mode no & until [ "$(redis-cli get die)" = 1 ]; do sleep 0.2; done; echo "going away"; exit 1']`,
      '        ready: { run: redis-cli ping }',
    ],
    steps: [
      '      - name: first',
      '        run:',
      '          - redis-cli -h db set die 1',
      // Bounded: once the service is gone, the name `db` can take the engine's DNS ~40 s to refuse.
      '          - while timeout 3 redis-cli -h db ping; do sleep 0.2; done',
      '          - sleep 5',
      '      - name: second',
      '        run: echo never runs',
    ],
    async check(h, b) {
      assert.equal(b.status, 'failed');
      const [first, second] = b.stages[0]!.steps;
      assert.deepEqual([first!.status, second!.status, second!.reason], ['success', 'failed', 'service_failed']);
      const text = await log(h, b.id, 'second');
      assert.match(text, /service `db` \(bosun\/redis-test:7\) stopped: it exited with code 1/);
      assert.match(text, /db \| going away/);
    },
  },
  {
    name: 'a service that turns unhealthy after it was ready fails the next step',
    // Ready once Redis answers; the first step then makes it unhealthy and waits until a probe
    // has failed (the probe records it), leaving the engine a margin to mark it unhealthy.
    services: [
      '      db:',
      `        image: ${redisImage}`,
      `        command: [sh, -c, 'redis-server --save "" --dir /tmp --protected-mode no & until redis-cli ping; do sleep 0.1; done; touch /tmp/up; until [ "$(redis-cli get sick)" = 1 ]; do sleep 0.2; done; rm /tmp/up; echo "lost my marbles"; sleep 600']`,
      '        ready:',
      "          run: 'test -e /tmp/up || { redis-cli set probe-failed 1; exit 1; }'",
      '          retries: 1',
    ],
    steps: [
      '      - name: first',
      '        run:',
      '          - redis-cli -h db set sick 1',
      '          - until [ "$(redis-cli -h db get probe-failed)" = 1 ]; do sleep 0.2; done',
      '          - sleep 5',
      '      - name: second',
      '        run: echo never runs',
    ],
    async check(h, b) {
      assert.equal(b.status, 'failed');
      assert.deepEqual(
        b.stages[0]!.steps.map((s) => s.status),
        ['success', 'failed'],
      );
      const text = await log(h, b.id, 'second');
      assert.match(text, /service `db` \(bosun\/redis-test:7\) became unhealthy: its health check failed \(last probe: exit 1/);
      assert.match(text, /db \| lost my marbles/);
    },
  },
];

/** Containers of this build still on the engine (steps and services). */
async function leftovers(docker: Docker, buildLabel: string, instanceId: string, ...more: string[]): Promise<string[]> {
  const list = await docker.listContainers({
    all: true,
    filters: JSON.stringify({ label: [`${labelKeys.build}=${buildLabel}`, `${labelKeys.instance}=${instanceId}`, ...more] }),
  });
  return list.filter((c) => c.Labels['bosun.role'] === undefined).map((c) => `${c.Names[0]} (${c.State})`);
}

const executors: { name: string; make(docker: Docker, instanceId: string): Executor }[] = [
  { name: 'docker', make: (docker, instanceId) => new DockerExecutor({ docker, instanceId, log: silentLogger(), timeoutGraceMs: 2000 }) },
  { name: 'swarm', make: (docker, instanceId) => new SwarmExecutor({ docker, instanceId, log: silentLogger(), timeoutGraceMs: 2000 }) },
  // `sandbox: stage` (docs/sandbox.md): the steps exec'd in their stage's sandbox, on the network its services are on.
  { name: 'dsbx', make: (docker, instanceId) => new DockerExecutor({ docker, instanceId, log: silentLogger(), timeoutGraceMs: 2000, sandbox: 'stage' }) },
  { name: 'ssbx', make: (docker, instanceId) => new SwarmExecutor({ docker, instanceId, log: silentLogger(), timeoutGraceMs: 2000, sandbox: 'stage' }) },
];

for (const kind of executors) {
  describe(`services on the ${kind.name} executor`, () => {
    const docker = new Docker();
    const instanceId = `svc${kind.name}${runId}`;
    let h: Harness | undefined;
    let executor: Executor | undefined;
    let ok = false;

    before(async () => {
      ok = await requireDocker();
      if (!ok) return;
      // The image is made by scripts/build-base-images.sh (docker-up.sh runs it): required in CI.
      ok = await docker
        .getImage(redisImage)
        .inspect()
        .then(
          () => true,
          () => false,
        );
      if (!ok && process.env.CI) throw new Error(`${redisImage} is missing: run scripts/build-base-images.sh`);
      if (!ok) return;
      h = await startHarness(
        { instanceId },
        {
          executorAsync: async () => {
            executor = kind.make(docker, instanceId);
            return executor;
          },
        },
      );
    });
    after(async () => {
      // The builds' networks and volumes (a failed build keeps them for `retry --failed`).
      await (executor as DockerExecutor | undefined)?.reapBuilds(() => false).catch(() => undefined);
      await h?.stop();
      // Whatever a failed assertion left: this instance's containers.
      const list = await docker.listContainers({ all: true, filters: JSON.stringify({ label: [`${labelKeys.instance}=${instanceId}`] }) });
      for (const c of list)
        await docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined);
    });

    for (const [i, s] of scenarios.entries()) {
      test(s.name, async (t) => {
        if (!ok || !h) return t.skip(`no Docker engine or no ${redisImage}`);
        const repoName = `svc-${kind.name}-${i}`;
        const repo = await makeRepo(h.dataDir, repoName, { 'bosun.yml': spec(s.services, s.steps) });
        h.server.core.config.repos[repoName] = { url: repo.url, defaultBranch: 'master', secrets: [] };

        const res = await h.api('POST', '/api/builds', { repo: repoName, ref: 'master' });
        const b = await h.waitDone(res.json.build.id, 180_000);

        await s.check(h, b);
        assert.deepEqual(await leftovers(docker, b.id, instanceId, labelKeys.service), [], 'the stage removed its services before it ended');
        // Swarm removes a step task's container a moment after its service.
        let left = await leftovers(docker, b.id, instanceId);
        for (let i = 0; i < 100 && left.length > 0; i++) {
          await new Promise((r) => setTimeout(r, 200));
          left = await leftovers(docker, b.id, instanceId);
        }
        assert.deepEqual(left, [], 'nothing of the build is left');
      });
    }

    test("cancelling the build while a step runs removes the stage's services", async (t) => {
      if (!ok || !h) return t.skip(`no Docker engine or no ${redisImage}`);
      const repoName = `svc-${kind.name}-cancel`;
      const repo = await makeRepo(h.dataDir, repoName, {
        'bosun.yml': spec([`      cache: { image: ${redisImage}, ready: { run: redis-cli ping } }`], ['      - name: long', '        run: sleep 600']),
      });
      h.server.core.config.repos[repoName] = { url: repo.url, defaultBranch: 'master', secrets: [] };
      const res = await h.api('POST', '/api/builds', { repo: repoName, ref: 'master' });
      const id = res.json.build.id as string;
      await h.waitFor(id, (b) => b.stages[0]?.steps[0]?.status === 'running' && b.stages[0].steps[0].executorRef !== undefined, 120_000);
      assert.equal((await leftovers(docker, id, instanceId, labelKeys.service)).length, 1, 'the service runs beside the step');

      await h.api('POST', `/api/builds/${id}/cancel`);
      const b = await h.waitDone(id, 120_000);

      assert.equal(b.status, 'cancelled');
      assert.deepEqual(await leftovers(docker, id, instanceId, labelKeys.service), []);
    });

    test('another worker starting up leaves the services of a stage that is running alone', async (t) => {
      if (!ok || !h || !executor) return t.skip(`no Docker engine or no ${redisImage}`);
      const repoName = `svc-${kind.name}-reap`;
      const repo = await makeRepo(h.dataDir, repoName, {
        'bosun.yml': spec(
          [`      cache: { image: ${redisImage}, ready: { run: redis-cli ping } }`],
          ['      - name: wait', '        run: [sleep 4, redis-cli -h cache ping]'],
        ),
      });
      h.server.core.config.repos[repoName] = { url: repo.url, defaultBranch: 'master', secrets: [] };
      const res = await h.api('POST', '/api/builds', { repo: repoName, ref: 'master' });
      const id = res.json.build.id as string;
      await h.waitFor(id, (b) => b.stages[0]?.steps[0]?.status === 'running' && b.stages[0].steps[0].executorRef !== undefined, 120_000);

      // Its startup reap runs against the same engine and instance while the stage runs.
      const pool = await startWorkerPool(h.server.core, { advance: false, concurrency: 0, labels: [], executor });
      await pool.close(true);
      const b = await h.waitDone(id, 120_000);

      assert.equal(b.status, 'success', JSON.stringify(b.stages));
      assert.match(await log(h, id, 'wait'), /PONG/);
    });

    test("a crashed worker's services are gone after the startup reap", async (t) => {
      if (!ok || !executor || !h) return t.skip(`no Docker engine or no ${redisImage}`);
      const buildId = `crash${runId}`;
      const plan = { name: 'cache', image: redisImage, env: {}, ready: { kind: 'image' as const, intervalSec: 1, timeoutSec: 30, retries: 3 }, limits: {} };
      const config = loadConfig({}, { limits: { memoryMb: 256 } });
      const handle = await executor.startService!(serviceSpecFor({ config, instanceId }, buildId, 'test', plan));
      assert.deepEqual(await handle.ready(), { state: 'ready' });
      assert.equal((await leftovers(docker, buildId, instanceId)).length, 1, 'the service runs');

      // It is isolated like a step, on the build's internal network under its name.
      const id = handle.ref.slice('docker:'.length);
      const facts = await containerIsolation(docker, id);
      assert.deepEqual(
        {
          privileged: facts.privileged,
          capAdd: facts.capAdd,
          capDrop: facts.capDrop,
          binds: facts.bindMounts,
          readonly: facts.readonlyRootfs,
          user: facts.user,
          memory: facts.memoryBytes,
        },
        { privileged: false, capAdd: [], capDrop: ['ALL'], binds: [], readonly: true, user: '1000:1000', memory: 256 * 2 ** 20 },
      );
      const networks = Object.entries((await docker.getContainer(id).inspect()).NetworkSettings.Networks ?? {});
      assert.deepEqual(
        networks.map(([name, n]) => [name, n.Aliases?.includes('cache')]),
        [[buildNetworkName(instanceId, buildId), true]],
        "only the build's network, under its name",
      );

      // A resumed stage starts its services again: the earlier run's container is replaced.
      const again = await executor.startService!(serviceSpecFor({ config, instanceId }, buildId, 'test', plan));
      assert.notEqual(again.ref, handle.ref);
      assert.deepEqual((await leftovers(docker, buildId, instanceId)).length, 1, 'one container for the service');
      await docker
        .getContainer(id)
        .inspect()
        .then(
          () => assert.fail("the first run's container is gone"),
          (err: { statusCode?: number }) => assert.equal(err.statusCode, 404),
        );

      // The worker "dies" here: nothing stops the service. A new worker's startup reaps.
      const removed = await executor.reap(() => false);
      await (executor as DockerExecutor).reapBuilds(() => false);

      assert.ok(removed.includes(again.ref), `${again.ref} reaped: ${removed.join(', ')}`);
      assert.deepEqual(await leftovers(docker, buildId, instanceId), []);
      await handle.destroy();
      await again.destroy();
    });
  });
}

test('the local executor refuses services with a clear error (it cannot isolate them)', async () => {
  const h = await startHarness(
    {},
    { executor: (dataDir) => new LocalExecutor({ instanceId: `svclocal${runId}`, dataDir, log: silentLogger(), timeoutGraceMs: 2000 }) },
  );
  try {
    const repo = await makeRepo(h.dataDir, 'svc-local', {
      'bosun.yml': spec(['      cache: { image: redis:7 }'], ['      - name: unit', '        run: echo never runs']),
    });
    h.server.core.config.repos['svc-local'] = { url: repo.url, defaultBranch: 'master', secrets: [] };

    const res = await h.api('POST', '/api/builds', { repo: 'svc-local', ref: 'master' });
    const b = await h.waitDone(res.json.build.id);

    assert.equal(b.status, 'failed');
    assert.equal(b.stages[0]!.steps[0]!.reason, 'service_failed');
    assert.match(await log(h, b.id, 'unit'), /stage test asks for services, which the local executor cannot isolate; run it on a docker or swarm worker/);
  } finally {
    await h.stop();
  }
});

test('on several swarm nodes a service is a Swarm service on the build overlay, by its name, isolated like a step, ready by its health check', () => {
  const plan = {
    name: 'cache',
    image: redisImage,
    env: { A: '1' },
    command: ['redis-server', '--port', '6380'],
    ready: { kind: 'tcp' as const, port: 6380, intervalSec: 1, timeoutSec: 30, retries: 3 },
    limits: {},
  };
  const spec = serviceSpecFor({ config: loadConfig({}, {}), instanceId: 'x' }, '1', 'test', plan);
  const target = {
    name: 'svc-x',
    image: '10.0.0.9:5000/bosun-workspace@sha256:ab',
    networkId: 'net1',
    labels: { l: 'v' },
    constraints: ['node.labels.zone==a'],
  };

  const out = toSwarmServiceSpec(spec, target) as unknown as {
    TaskTemplate: {
      ContainerSpec: Record<string, unknown> & { Healthcheck: { Test: string[] } };
      Networks: unknown[];
      Placement: unknown;
      RestartPolicy: unknown;
    };
    EndpointSpec: unknown;
  };

  const c = out.TaskTemplate.ContainerSpec;
  assert.equal(c.Image, target.image);
  assert.deepEqual(c.Args, ['redis-server', '--port', '6380'], 'command replaces CMD, the ENTRYPOINT stays');
  assert.equal(c.Command, undefined);
  assert.equal(c.User, '1000:1000');
  assert.equal(c.ReadOnly, true);
  assert.deepEqual(c.CapabilityDrop, ['ALL']);
  assert.deepEqual(c.CapabilityAdd, []);
  assert.match(c.Healthcheck.Test[1]!, /18EC:0A/, 'ready once 6380 listens');
  assert.deepEqual(out.TaskTemplate.Networks, [{ Target: 'net1', Aliases: ['cache'] }]);
  assert.deepEqual(out.EndpointSpec, { Mode: 'dnsrr' });
  assert.deepEqual(out.TaskTemplate.Placement, { Constraints: ['node.labels.zone==a'] });
  assert.deepEqual(out.TaskTemplate.RestartPolicy, { Condition: 'none', MaxAttempts: 0 });
});

test("`logs <build> <stage>/service:<name>` picks a service's log; an unknown one is refused", () => {
  const build = {
    id: '9',
    stages: [
      {
        name: 'test',
        status: 'failed',
        needs: [],
        labels: [],
        resources: [],
        steps: [{ name: 'unit', status: 'failed', image: 'x', runs: 1 }],
        services: [{ name: 'cache' }],
      },
    ],
  } as unknown as Build;

  assert.deepEqual(pickStep(build, { stage: 'test', step: 'service:cache' }), { stage: 'test', step: 'service:cache' });
  assert.deepEqual(pickStep(build, { stage: 'test' }), { stage: 'test', step: 'unit', status: 'failed', ran: true });
  assert.throws(() => pickStep(build, { stage: 'test', step: 'service:db' }), /has no step "service:db"/);
});

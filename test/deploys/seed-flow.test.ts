import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeRepo } from '../support/git-repo.js';
import { requireDocker } from '../support/require-docker.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { startPypiIndex, type TestPypiIndex } from '../support/pypi-index.js';
import { issueCommentPayload, pullRequestPayload } from '../fakes/fake-github-payloads.js';
import { startGithubHarness, eventually, type GithubHarness } from '../github/github-harness.js';
import { buildDistCommand, packageFiles } from '../publish/python-package.js';
import { git } from '../../src/git/git.js';
import { DeployStore } from '../../src/deploys/deploy-store.js';
import type { Build } from '../../src/domain/build.js';
import type { Deploy } from '../../src/domain/deploy.js';
import type { DockerPublication, PypiPublication } from '../../src/domain/publication.js';

/**
 * The seed's flow, end to end, on a whole Bosun with GitHub (the fake, delivering signed
 * webhooks), a TLS+htpasswd registry, the local Python index and two real Swarm services:
 * PR → checks → `/ci merge` → the push to master builds, publishes the image and the wheel,
 * deploys staging (its deploy stage: the service runs the new digest) and only then runs e2e,
 * whose step checks what the staging service runs → `/ci promote` → an approver approves →
 * production runs exactly staging's digest; a second change goes the same way; `/ci rollback`
 * (approved) brings the previous digest back to production; `/ci envs` at each step.
 *
 * What a service runs is visible from outside: each service's task copies its image's
 * `/version.txt` into a directory of the test (a bind mount the test gives the services it
 * makes) when it starts, so the e2e step reads the version staging runs.
 */
const docker = new Docker();
const tag = `${process.pid}-${Date.now().toString(36)}`;
const stagingService = `bosun-test-seed-staging-${tag}`;
const productionService = `bosun-test-seed-production-${tag}`;
const namespace = `bosun-seed-${tag}`;
const dev = { id: 101, login: 'dev' };
const reviewer = { id: 202, login: 'rel-eng' };
let g: GithubHarness | undefined;
let registry: TestRegistry | undefined;
let index: TestPypiIndex | undefined;
let root = '';
let repo: Awaited<ReturnType<typeof makeRepo>>;
const images: string[] = [];

/** The directory each service's running task writes its image's version into. */
const seen = (service: 'staging' | 'production') => join(root, `${service}-runs`);

function spec(image: string): string {
  return [
    'version: 1',
    'image: any',
    'stages:',
    '  test:',
    '    steps:',
    '      - name: unit',
    '        run: grep -q "^v" version.txt',
    '  release:',
    '    on: { branches: [master] }',
    '    needs: [test]',
    '    steps:',
    '      - name: dist',
    `        run: ${JSON.stringify(buildDistCommand)}`,
    '    publish:',
    `      - docker: { image: ${image} }`,
    '      - pypi: { repository: internal }',
    '  deploy-staging:',
    '    on: { branches: [master] }',
    '    needs: [release]',
    '    deploy: staging',
    '  e2e:',
    '    on: { branches: [master] }',
    '    needs: [deploy-staging]',
    '    steps:',
    '      - name: smoke',
    // Staging must run this very commit's image: its task wrote that image's version.
    `        run: test "$(cat ${join(seen('staging'), 'version.txt')})" = "$(cat version.txt)" && echo "e2e ok against staging running $(cat version.txt)"`,
    '',
  ].join('\n');
}

function files(version: string, marker: string): Record<string, string> {
  return {
    'version.txt': `${marker}\n`,
    Dockerfile: 'FROM bosun/busybox:1\nCOPY version.txt /version.txt\n',
    ...packageFiles('seed-app', version, marker),
  };
}

before(async () => {
  if (!(await requireDocker())) return;
  registry = await startRegistry();
  index = await startPypiIndex();
  root = mkdtempSync(join(tmpdir(), 'bosun-seed-'));
  repo = await makeRepo(root, 'api', { 'bosun.yml': spec(`${registry.host}/${namespace}/api`), ...files('1.0.0', 'v0') });
  // The services run on this engine's node (their bind mount is a directory here), also while
  // another test has joined a second node to the swarm.
  const nodeId = ((await docker.info()) as { Swarm: { NodeID: string } }).Swarm.NodeID;
  for (const [name, env] of [
    [stagingService, 'staging'],
    [productionService, 'production'],
  ] as const) {
    mkdirSync(seen(env));
    await docker.createService({
      Name: name,
      Labels: { 'bosun.test': 'seed-flow' },
      TaskTemplate: {
        ContainerSpec: {
          Image: 'bosun/busybox:1',
          // The base image has no /version.txt; a deployed one does, and its task says so.
          Command: ['sh', '-c', 'cp /version.txt /seen/version.txt 2>/dev/null; exec sleep 100000'],
          Mounts: [{ Type: 'bind', Source: seen(env), Target: '/seen' }],
          StopGracePeriod: 1e9,
        } as never,
        RestartPolicy: { Condition: 'any', MaxAttempts: 0 },
        Placement: { Constraints: [`node.id == ${nodeId}`] },
        LogDriver: { Name: 'json-file' },
      },
      Mode: { Replicated: { Replicas: 1 } },
    } as never);
  }
  const target = (name: string) => ({ swarmService: { name, updateOrder: 'start-first', monitorSec: 2, healthTimeoutSec: 120 } });
  g = await startGithubHarness(
    {
      repos: { 'acme/api': { url: repo.url, defaultBranch: 'master', secrets: [] } },
      groups: { release: [`github:${reviewer.id}`] },
      secrets: { REGISTRY_PASSWORD: registry.password, PYPI_PASSWORD: index.password },
      publish: {
        docker: { registries: [{ host: registry.host, username: registry.username, passwordSecret: 'REGISTRY_PASSWORD' }] },
        pypi: {
          repositories: { internal: { uploadUrl: index.uploadUrl, indexUrl: index.indexUrl, username: index.username, passwordSecret: 'PYPI_PASSWORD' } },
        },
      },
      queue: { watchdogIntervalMs: 1000 },
      environments: {
        staging: { repo: 'acme/api', autoDeploy: { branch: 'master' }, target: target(stagingService) },
        production: { repo: 'acme/api', approvers: 'release', requires: ['e2e'], autoDeploy: { branch: 'production' }, target: target(productionService) },
      },
    } as never,
    { requiredApprovals: 1, requiredStages: ['test'], productionApprovers: 'release' },
  );
  g.gh.addRepo('acme/api', repo.dir);
});

after(async () => {
  for (const name of [stagingService, productionService])
    await docker
      .getService(name)
      .remove()
      .catch(() => undefined);
  for (const ref of images)
    await docker
      .getImage(ref)
      .remove({ force: true })
      .catch(() => undefined);
  await g?.stop();
  await index?.stop();
  await registry?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

async function builds(pred: (b: Build) => boolean): Promise<Build[]> {
  return (await g!.h.server.core.store.list({ repo: 'acme/api', limit: 100 })).filter(pred);
}

/** Posts `/ci …` as a comment on PR `number` and returns Bosun's reply comment. */
async function comment(body: string, user = dev, number = 1): Promise<string> {
  const gh = g!.gh;
  const count = gh.comments.length;
  const res = await gh.deliver('issue_comment', issueCommentPayload({ repo: 'acme/api', number, body, user, association: 'MEMBER' }));
  assert.equal(res.status, 202);
  const all = await eventually(
    () => gh.comments,
    (c) => c.length > count,
    60_000,
  );
  return all[count]!.body;
}

/** The image the service's spec names and the images of its running tasks (what actually runs). */
async function serviceRuns(name: string): Promise<{ spec: string; running: string[] }> {
  const info = (await docker.getService(name).inspect()) as { Spec: { TaskTemplate: { ContainerSpec: { Image: string } } } };
  const tasks = (await docker.listTasks({ filters: JSON.stringify({ service: [name], 'desired-state': ['running'] }) })) as {
    Status: { State: string };
    Spec: { ContainerSpec: { Image: string } };
  }[];
  return {
    spec: info.Spec.TaskTemplate.ContainerSpec.Image,
    running: tasks.filter((t) => t.Status.State === 'running').map((t) => t.Spec.ContainerSpec.Image),
  };
}

async function waitRunning(name: string, ref: string): Promise<void> {
  await eventually(
    () => serviceRuns(name),
    (s) => s.spec === ref && s.running.length === 1 && s.running[0] === ref,
    180_000,
  );
}

async function lastDeploy(environment: string, pred: (d: Deploy) => boolean = () => true): Promise<Deploy> {
  const store = new DeployStore(g!.h.server.core.redis, g!.h.server.core.prefix);
  return eventually(
    async () => (await store.history({ environment }, 50)).find(pred),
    (d) => d !== undefined && ['succeeded', 'failed', 'rolled_back', 'refused', 'superseded'].includes(d.state),
    180_000,
  ) as Promise<Deploy>;
}

/**
 * One change from a pull request to master: PR opened → its checks → reviewed → `/ci merge`
 * → the push build on master (test, release with publishing, deploy-staging, e2e against
 * staging). Returns the push build and its staging deploy.
 */
async function mergeChange(
  number: number,
  branch: string,
  version: string,
  marker: string,
): Promise<{ build: Build; docker: DockerPublication; head: string; staged: Deploy }> {
  const gh = g!.gh;
  await git(['checkout', '-q', 'master'], { cwd: repo.dir });
  const head = await repo.commit(files(version, marker), `change ${marker}`, branch);
  await git(['checkout', '-q', '--detach'], { cwd: repo.dir });
  gh.addPull('acme/api', { number, headRef: branch, baseRef: 'master', user: dev });

  await gh.deliver(
    'pull_request',
    pullRequestPayload({ action: 'opened', repo: 'acme/api', number, headSha: head, headRef: branch, user: dev, association: 'MEMBER' }),
  );
  const [prBuild] = await eventually(
    () => builds((b) => b.sha === head && b.trigger.event !== 'push'),
    (b) => b.length === 1,
    60_000,
  );
  const donePr = await g!.h.waitDone(prBuild!.id, 300_000);
  assert.equal(donePr.status, 'success', JSON.stringify(donePr.stages));
  assert.deepEqual(
    donePr.stages.map((s) => s.name),
    ['test'],
    'a pull request runs its checks and publishes nothing',
  );
  assert.equal(donePr.published, undefined);
  await eventually(
    () => gh.latest('acme/api', head)['bosun/test'],
    (s) => s === 'success',
    60_000,
  );

  await gh.addReview('acme/api', number, reviewer, 'APPROVED');
  assert.equal(await comment(`/ci merge acme/api#${number}`, dev, number), `@dev Fast-forwarded acme/api master to ${head.slice(0, 7)} (#${number}).`);
  assert.equal(await gh.rev('acme/api', 'refs/heads/master'), head);

  const [push] = await eventually(
    () => builds((b) => b.sha === head && b.ref === 'master' && b.trigger.event === 'push'),
    (b) => b.length === 1,
    60_000,
  );
  const build = await g!.h.waitDone(push!.id, 600_000);
  assert.deepEqual(
    build.stages.map((s) => [s.name, s.status]),
    [
      ['test', 'success'],
      ['release', 'success'],
      ['deploy-staging', 'success'],
      ['e2e', 'success'],
    ],
    JSON.stringify(build.stages),
  );
  const pub = build.published?.find((p): p is DockerPublication => p.kind === 'docker');
  assert.ok(pub, JSON.stringify(build.published));
  images.push(`${pub.image}:${pub.tag}`);
  // The image is in the TLS registry (pushed with Bosun's credentials) under the commit's sha, by that digest.
  assert.equal(pub.digest, await registry!.manifestDigest(`${namespace}/api`, head));
  assert.equal(pub.ref, `${registry!.host}/${namespace}/api@${pub.digest}`);
  // And the wheel and sdist are in the index.
  const wheel = build.published?.find((p): p is PypiPublication => p.kind === 'pypi');
  assert.deepEqual([wheel?.package, wheel?.version], ['seed-app', version]);
  assert.ok(
    index!.uploads.some((u) => u.filename === `seed_app-${version}-py3-none-any.whl`),
    JSON.stringify(index!.uploads.map((u) => u.filename)),
  );
  // What GitHub shows on the commit: the release check names the digest and the Python release.
  const release = await eventually(
    () => g!.gh.statusesFor('acme/api', head, 'bosun/release'),
    (s) => s.at(-1)?.state === 'success',
    60_000,
  );
  assert.equal(release.at(-1)!.description, `release: success — published ${pub.digest}, seed-app ${version}`);

  // The deploy stage deployed exactly this build's digest to staging, and it had finished
  // (the service converged on it) before e2e started; e2e's step checked what staging runs.
  const stage = build.stages.find((x) => x.name === 'deploy-staging')!;
  assert.ok(stage.deployId, JSON.stringify(stage));
  const staged = (await new DeployStore(g!.h.server.core.redis, g!.h.server.core.prefix).get(stage.deployId))!;
  assert.deepEqual(
    [staged.state, staged.kind, staged.source, staged.buildId, staged.ref, staged.stage?.name],
    ['succeeded', 'auto', 'deploy-stage', build.id, pub.ref, 'deploy-staging'],
  );
  const e2e = build.stages.find((x) => x.name === 'e2e')!;
  assert.ok(Date.parse(staged.finishedAt!) <= Date.parse(e2e.startedAt!), `deploy finished ${staged.finishedAt}, e2e started ${e2e.startedAt}`);
  assert.ok(Date.parse(staged.finishedAt!) <= Date.parse(e2e.steps[0]!.startedAt!));
  assert.equal(readFileSync(join(seen('staging'), 'version.txt'), 'utf8'), `${marker}\n`);
  const e2eLog = (await g!.h.server.core.logs.tail(build.id, 'e2e', 'smoke', 20)).map((l) => l.text);
  assert.ok(e2eLog.includes(`e2e ok against staging running ${marker}`), e2eLog.join('\n'));
  // The deploy's progress is the stage's log.
  const deployLog = (await g!.h.server.core.logs.tail(build.id, 'deploy-staging', 'bosun:deploy', 50)).map((l) => l.text).join('\n');
  assert.match(
    deployLog,
    new RegExp(`^bosun: deploying ${pub.ref.replace(/[.]/g, '\\.')} \\(build #${build.id}, acme/api@${head.slice(0, 7)}\\) to staging$`, 'm'),
  );
  assert.match(deployLog, new RegExp(`^bosun: deploy #${staged.id} succeeded: staging runs `, 'm'));
  const status = await eventually(
    () => g!.gh.statusesFor('acme/api', head, 'bosun/deploy-staging'),
    (x) => x.at(-1)?.state === 'success',
    60_000,
  );
  assert.equal(status.at(-1)!.description, `deploy-staging: success — deployed to staging (deploy #${staged.id})`);
  return { build, docker: pub, head, staged };
}

/** `/ci promote` by the developer; the developer cannot approve; the reviewer does. Returns the promotion build id. */
async function promote(head: string, number: number): Promise<string> {
  const reply = await comment('/ci promote acme/api', dev, number);
  const promotionId = /build #(\d+)/.exec(reply)?.[1];
  assert.ok(promotionId, reply);
  assert.match(reply, new RegExp(`Promotion of acme/api@${head.slice(0, 7)} to production`));
  await g!.h.waitFor(promotionId, (b) => b.status === 'waiting');
  assert.match(await comment(`/ci approve ${promotionId}`, dev, number), /cannot approve it \(no self-approval\)/);
  assert.match(await comment(`/ci approve ${promotionId}`, reviewer, number), /^@rel-eng Passed the checkpoint of promote/);
  assert.equal((await g!.h.waitDone(promotionId)).status, 'success');
  await eventually(
    () => g!.gh.rev('acme/api', 'refs/heads/production').catch(() => null),
    (sha) => sha === head,
    60_000,
  );
  return promotionId;
}

/** Waits until the service's running task has written `marker` as its image's version. */
async function seesVersion(service: 'staging' | 'production', marker: string): Promise<void> {
  await eventually(
    () => {
      try {
        return readFileSync(join(seen(service), 'version.txt'), 'utf8');
      } catch {
        return '';
      }
    },
    (v) => v === `${marker}\n`,
    60_000,
  );
}

function envLine(envs: string, name: string): string {
  return envs.split('\n').find((l) => l.includes(`${name}: `)) ?? `(no ${name} line in: ${envs})`;
}

test(
  "seed flow: PR → checks → /ci merge → publish image and wheel → staging → e2e → /ci promote → approved production runs staging's digest; a second change; /ci rollback",
  { timeout: 1_500_000 },
  async (t) => {
    if (!g || !registry || !index) return t.skip('no Docker engine');
    const gh = g.gh;

    let envs = await comment('/ci envs acme/api');
    assert.match(envLine(envs, 'staging'), /staging: nothing deployed by Bosun yet/);
    assert.match(envLine(envs, 'production'), /production: nothing deployed by Bosun yet/);

    // Change 1: PR → checks → merge → push build publishes → deploys staging → e2e against it.
    const one = await mergeChange(1, 'feature-1', '1.1.0', 'v1');
    await waitRunning(stagingService, one.docker.ref);
    const staged1 = one.staged;
    envs = await comment('/ci envs acme/api');
    assert.match(envLine(envs, 'staging'), new RegExp(`staging: ${one.docker.digest.slice(7, 19)} ${one.head.slice(0, 7)} build #${one.build.id}, .* ago by `));
    assert.match(envLine(envs, 'production'), /nothing deployed by Bosun yet/);
    assert.equal((await serviceRuns(productionService)).spec, 'bosun/busybox:1', 'production untouched before promotion');

    // Promote: the requester cannot approve; the reviewer does; production runs exactly staging's digest.
    await promote(one.head, 1);
    await waitRunning(productionService, one.docker.ref);
    await seesVersion('production', 'v1');
    const prod1 = await lastDeploy('production', (d) => d.buildId === one.build.id);
    assert.equal(prod1.state, 'succeeded', prod1.reason);
    assert.equal(prod1.digest, staged1.digest, 'production runs the digest staging ran');
    assert.deepEqual(
      prod1.approvals.map((a) => a.actor.id),
      [`github:${reviewer.id}`],
    );
    envs = await comment('/ci envs acme/api');
    assert.match(envLine(envs, 'production'), new RegExp(`production: ${one.docker.digest.slice(7, 19)} ${one.head.slice(0, 7)} build #${one.build.id}`));
    assert.match(envLine(envs, 'staging'), new RegExp(`staging: ${one.docker.digest.slice(7, 19)}`));

    // Change 2 goes the same way.
    const two = await mergeChange(2, 'feature-2', '1.2.0', 'v2');
    assert.notEqual(two.docker.digest, one.docker.digest);
    await waitRunning(stagingService, two.docker.ref);
    assert.equal(two.staged.ref, two.docker.ref);
    assert.equal((await serviceRuns(productionService)).spec, one.docker.ref, 'production keeps the approved digest until the next promotion');
    envs = await comment('/ci envs acme/api', dev, 2);
    assert.match(envLine(envs, 'staging'), new RegExp(`staging: ${two.docker.digest.slice(7, 19)} ${two.head.slice(0, 7)} build #${two.build.id}`));
    assert.match(envLine(envs, 'production'), new RegExp(`production: ${one.docker.digest.slice(7, 19)}`));
    await promote(two.head, 2);
    await waitRunning(productionService, two.docker.ref);
    await seesVersion('production', 'v2');
    assert.equal((await lastDeploy('production', (d) => d.buildId === two.build.id)).state, 'succeeded');
    envs = await comment('/ci envs acme/api', dev, 2);
    assert.match(envLine(envs, 'production'), new RegExp(`production: ${two.docker.digest.slice(7, 19)} ${two.head.slice(0, 7)} build #${two.build.id}`));

    // Rollback production: it needs the release group's approval, never the requester's.
    const asked = await comment('/ci rollback acme/api production', dev, 2);
    assert.match(
      asked,
      new RegExp(
        `^@dev Deploy #\\d+ of acme/api@${one.head.slice(0, 7)} \\(build #${one.build.id}, ${one.docker.digest.slice(7, 19)}\\) to production needs 1 approval\\(s\\) from "release" \\(not dev\\)`,
      ),
    );
    const approvalBuild = /`\/ci approve (\d+)`/.exec(asked)?.[1];
    const rollbackId = /Deploy #(\d+)/.exec(asked)?.[1];
    assert.ok(approvalBuild && rollbackId, asked);
    await g.h.waitFor(approvalBuild, (b) => b.status === 'waiting');
    assert.match(await comment(`/ci approve ${approvalBuild}`, dev, 2), /cannot approve it \(no self-approval\)/);
    assert.equal((await serviceRuns(productionService)).spec, two.docker.ref, "nothing rolled back on the requester's own approval");
    assert.match(await comment(`/ci approve ${approvalBuild}`, reviewer, 2), /Passed the checkpoint/);
    await waitRunning(productionService, one.docker.ref);
    await seesVersion('production', 'v1');
    const rolled = await lastDeploy('production', (d) => d.id === rollbackId);
    assert.deepEqual([rolled.state, rolled.kind, rolled.ref], ['succeeded', 'rollback', one.docker.ref]);
    envs = await comment('/ci envs acme/api', dev, 2);
    assert.match(
      envLine(envs, 'production'),
      new RegExp(`production: ${one.docker.digest.slice(7, 19)} ${one.head.slice(0, 7)} build #${one.build.id}, .* ago by dev`),
    );
    assert.match(envLine(envs, 'staging'), new RegExp(`staging: ${two.docker.digest.slice(7, 19)}`));
    assert.equal((await serviceRuns(stagingService)).spec, two.docker.ref, 'staging is untouched by the production rollback');

    // Production got exactly the promoted digests and the rollback; the push builds of the
    // production branch the promotions made deployed nothing over them (no auto-deploy there).
    const store = new DeployStore(g.h.server.core.redis, g.h.server.core.prefix);
    assert.deepEqual((await store.history({ environment: 'production' }, 50)).map((d) => [d.kind, d.state, d.buildId]).reverse(), [
      ['deploy', 'succeeded', one.build.id],
      ['deploy', 'succeeded', two.build.id],
      ['rollback', 'succeeded', one.build.id],
    ]);
    assert.deepEqual((await store.history({ environment: 'staging' }, 50)).map((d) => [d.kind, d.state, d.buildId]).reverse(), [
      ['auto', 'succeeded', one.build.id],
      ['auto', 'succeeded', two.build.id],
    ]);

    // GitHub's environment view agrees: a deployment per deploy, each ending success.
    const deployments = await eventually(
      () => gh.deployments.filter((d) => d.repo === 'acme/api'),
      (ds) => ds.length === 5 && ds.every((d) => d.statuses.at(-1)?.state === 'success'),
      60_000,
    );
    assert.deepEqual(
      deployments.map((d) => [d.environment, d.ref]),
      [
        ['staging', one.head],
        ['production', one.head],
        ['staging', two.head],
        ['production', two.head],
        ['production', one.head],
      ],
    );
    assert.deepEqual(
      deployments.map((d) => (d.payload as { digest: string }).digest),
      [one.docker.digest, one.docker.digest, two.docker.digest, two.docker.digest, one.docker.digest],
    );
    assert.deepEqual(
      deployments[0]!.statuses.map((s) => s.state),
      ['in_progress', 'success'],
    );
  },
);

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import { startHarness, type Harness } from '../support/bosun-harness.js';
import { makeRepo } from '../support/git-repo.js';
import { requireDocker } from '../support/require-docker.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { startPypiIndex, type TestPypiIndex } from '../support/pypi-index.js';
import { createBuild } from '../../src/pipeline/create-build.js';
import { describeBuild } from '../../commands/describe-build.js';
import { pickStep } from '../../src/app/build-service.js';
import { renderStage } from '../../src/chat/slack/render-build.js';
import type { DockerPublication, PypiPublication } from '../../src/domain/publication.js';
import { buildDistCommand, packageFiles } from './python-package.js';

/**
 * The whole path on a real Bosun (local executor, real Redis): a step builds `dist/`, then
 * Bosun itself builds and pushes the image to a real TLS+htpasswd registry and uploads the
 * release to the local index, records both on the build, and shows them.
 */
let h: Harness | undefined;
let registry: TestRegistry | undefined;
let index: TestPypiIndex;
const images: string[] = [];
const namespace = `bosun-flow-${process.pid}`;

before(async () => {
  if (!(await requireDocker())) return;
  registry = await startRegistry();
  index = await startPypiIndex();
  h = await startHarness({
    secrets: { REGISTRY_PASSWORD: registry.password, PYPI_PASSWORD: index.password },
    publish: {
      docker: { registries: [{ host: registry.host, username: registry.username, passwordSecret: 'REGISTRY_PASSWORD' }] },
      pypi: { repositories: { internal: { uploadUrl: index.uploadUrl, indexUrl: index.indexUrl, username: index.username, passwordSecret: 'PYPI_PASSWORD' } } },
    },
  });
});
after(async () => {
  const docker = new Docker();
  for (const ref of images)
    await docker
      .getImage(ref)
      .remove({ force: true })
      .catch(() => undefined);
  await h?.stop();
  await index?.stop();
  await registry?.stop();
});

function spec(image: string): string {
  return [
    'version: 1',
    'image: any',
    'stages:',
    '  release:',
    '    steps:',
    '      - name: dist',
    `        run: ${JSON.stringify(buildDistCommand)}`,
    '    publish:',
    `      - docker: { image: ${image} }`,
    '      - pypi: { repository: internal }',
    '',
  ].join('\n');
}

async function addRepo(name: string, files: Record<string, string>): Promise<void> {
  const repo = await makeRepo((h as Harness).dataDir, name, files);
  (h as Harness).server.core.config.repos[name] = { url: repo.url, defaultBranch: 'master', secrets: [] };
}

test('a stage that passes publishes its image by digest and its Python release, shown in status and the thread', async (t) => {
  if (!h || !registry) return t.skip('no Docker engine');
  const image = `${registry.host}/${namespace}/shop`;
  await addRepo('shop', {
    'bosun.yml': spec(image),
    Dockerfile: 'FROM bosun/busybox:1\nCOPY shop_app.py /app/\n',
    ...packageFiles('shop-app', '3.1.0', 'shop'),
  });

  const res = await h.api('POST', '/api/builds', { repo: 'shop', ref: 'master' });
  assert.equal(res.status, 201);
  const b = await h.waitDone(res.json.build.id, 300_000);
  images.push(`${image}:${b.sha}`);

  assert.equal(b.status, 'success', JSON.stringify(b.stages));
  const docker = b.published?.find((p): p is DockerPublication => p.kind === 'docker');
  const pypi = b.published?.find((p): p is PypiPublication => p.kind === 'pypi');
  assert.equal(docker?.tag, b.sha);
  assert.equal(docker?.digest, await registry.manifestDigest(`${namespace}/shop`, b.sha));
  assert.equal(docker?.ref, `${image}@${docker?.digest}`);
  assert.deepEqual([pypi?.package, pypi?.version, pypi?.repository, pypi?.alreadyPublished], ['shop-app', '3.1.0', 'internal', undefined]);
  assert.deepEqual(index.uploads.map((u) => u.filename).sort(), ['shop-app-3.1.0.tar.gz', 'shop_app-3.1.0-py3-none-any.whl'].sort());

  assert.match(describeBuild(b), new RegExp(`⇪ published ${image.replaceAll('.', '\\.')}@sha256:[0-9a-f]{64}`));
  assert.match(describeBuild(b), /⇪ published shop-app 3\.1\.0 → internal/);
  const stage = b.stages[0];
  assert.ok(stage);
  assert.ok(renderStage(stage, b.published).text.includes(`published ${docker?.ref}`));
  const log = await h.api('GET', `/api/builds/${b.id}/logs/release/bosun:publish`);
  assert.match(String(log.json), /bosun: pushed .*@sha256:/);
  assert.ok(!String(log.json).includes(registry.password) && !String(log.json).includes(index.password), 'no password in the publish log');

  // Retried: the image of the same commit is already in the registry (same digest, nothing
  // pushed); the step rebuilds dist/, and setuptools' sdist is not byte-reproducible (it embeds
  // times), so the index holds 3.1.0 with other hashes: an error naming the version.
  const again = await h.api('POST', `/api/builds/${b.id}/retry`, {});
  assert.equal(again.status, 200, JSON.stringify(again.json));
  const retried = await h.waitDone(again.json.build.id, 300_000);
  assert.equal(retried.published?.find((p) => p.kind === 'docker')?.digest, docker?.digest);
  assert.equal(retried.status, 'failed');
  assert.match(
    retried.stages[0]?.publishError ?? '',
    /^shop-app 3\.1\.0 is already published in index internal \(127\.0\.0\.1:\d+\) with different contents \(shop-app-3\.1\.0\.tar\.gz: sha256 [0-9a-f]{64} there, [0-9a-f]{64} here\); publish a new version$/,
  );
  assert.equal(index.uploads.length, 2);
});

test('an untrusted build (a fork) runs its steps but is refused publishing; nothing is pushed or uploaded', async (t) => {
  if (!h || !registry) return t.skip('no Docker engine');
  const image = `${registry.host}/${namespace}/fork`;
  await addRepo('forked', { 'bosun.yml': spec(image), Dockerfile: 'FROM bosun/busybox:1\n', ...packageFiles('fork-app', '1.0.0', 'x') });
  const uploads = index.uploads.length;

  const { build } = await createBuild(h.server.core.deps, {
    repo: 'forked',
    ref: 'master',
    trigger: { event: 'pull_request', source: 'github', actor: { id: 'github:1', name: 'outsider' }, untrusted: true },
  });
  const b = await h.waitDone(build?.id ?? '', 300_000);

  assert.equal(b.status, 'failed');
  assert.equal(b.stages[0]?.steps[0]?.status, 'success');
  assert.match(b.stages[0]?.publishError ?? '', /publish refused: this build is untrusted/);
  assert.equal(b.published, undefined);
  assert.equal(index.uploads.length, uploads);
  assert.equal(await registry.manifestDigest(`${namespace}/fork`, b.sha), null);
  assert.match(describeBuild(b), /⇪ publish failed: publish refused: this build is untrusted/);
  // `bosun logs <build>` shows what publishing said when it is what failed.
  const tail = await h.api('GET', `/api/builds/${b.id}/logs/release/bosun:publish`);
  assert.match(String(tail.json), /bosun: publish refused: this build is untrusted/);
  assert.deepEqual(pickStep(b, {}), { stage: 'release', step: 'bosun:publish' });
});

test('an image whose registry is not in server config fails the stage, naming the registry', async (t) => {
  if (!h || !registry) return t.skip('no Docker engine');
  await addRepo('elsewhere', {
    'bosun.yml': spec('registry.example/acme/api'),
    Dockerfile: 'FROM bosun/busybox:1\n',
    ...packageFiles('elsewhere', '1.0.0', 'x'),
  });

  const res = await h.api('POST', '/api/builds', { repo: 'elsewhere', ref: 'master' });
  const b = await h.waitDone(res.json.build.id, 300_000);

  assert.equal(b.status, 'failed');
  assert.equal(b.stages[0]?.publishError, 'registry registry.example of registry.example/acme/api is not in server config (publish.docker.registries)');
});

test('a registry and an index open to named repositories only refuse the others, naming the config entry; retry --failed publishes once allowed', async (t) => {
  if (!h || !registry) return t.skip('no Docker engine');
  const image = `${registry.host}/${namespace}/other-team`;
  await addRepo('intruder', { 'bosun.yml': spec(image), Dockerfile: 'FROM bosun/busybox:1\n', ...packageFiles('intruder', '1.0.0', 'x') });
  const config = h.server.core.config.publish;
  const registryEntry = config.docker.registries[0]!;
  const indexEntry = config.pypi.repositories.internal!;
  registryEntry.repos = ['shop'];
  try {
    const res = await h.api('POST', '/api/builds', { repo: 'intruder', ref: 'master' });
    const id = res.json.build.id as string;
    const b = await h.waitDone(id, 300_000);
    images.push(`${image}:${b.sha}`);
    assert.equal(b.status, 'failed');
    assert.equal(b.stages[0]?.publishError, `repository intruder may not publish to registry ${registry.host} (publish.docker.registries: repos)`);
    assert.equal(await registry.manifestDigest(`${namespace}/other-team`, b.sha), null);

    delete registryEntry.repos;
    indexEntry.repos = ['shop'];
    await h.api('POST', `/api/builds/${id}/retry`, { fromFailed: true });
    const b2 = await h.waitFor(id, (x) => x.attempt === 2 && x.status === 'failed', 300_000);
    assert.equal(b2.stages[0]?.publishError, 'repository intruder may not publish to Python repository internal (publish.pypi.repositories.internal.repos)');
    const digest = await registry.manifestDigest(`${namespace}/other-team`, b.sha);
    assert.deepEqual(
      b2.published?.map((p) => (p.kind === 'docker' ? p.digest : p.package)),
      [digest],
    );
    assert.ok(!index.uploads.some((u) => u.name === 'intruder'));

    delete indexEntry.repos;
    await h.api('POST', `/api/builds/${id}/retry`, { fromFailed: true });
    const b3 = await h.waitFor(id, (x) => x.attempt === 3 && x.status === 'success', 300_000);
    assert.equal(b3.stages[0]?.publishError, undefined);
    assert.equal(b3.stages[0]?.steps[0]?.runs, 1, 'the passed step is not run again');
    assert.deepEqual(
      b3.published?.map((p) => (p.kind === 'docker' ? p.digest : p.package)),
      [digest, 'intruder'],
    );
  } finally {
    delete registryEntry.repos;
    delete indexEntry.repos;
  }
});

test('a stage with publish: alone publishes what an earlier stage of the build left in the workspace', async (t) => {
  if (!h || !registry) return t.skip('no Docker engine');
  await addRepo('two-stage', {
    'bosun.yml': [
      'version: 1',
      'image: any',
      'stages:',
      '  build:',
      '    steps:',
      '      - name: dist',
      `        run: ${JSON.stringify(buildDistCommand)}`,
      '  release:',
      '    needs: [build]',
      '    publish:',
      '      - pypi: { repository: internal }',
      '',
    ].join('\n'),
    ...packageFiles('two-stage', '0.9.0', 'x'),
  });

  const res = await h.api('POST', '/api/builds', { repo: 'two-stage', ref: 'master' });
  const b = await h.waitDone(res.json.build.id, 300_000);

  assert.equal(b.status, 'success', JSON.stringify(b.stages));
  assert.deepEqual(
    b.published?.map((p) => [p.stage, p.kind, p.kind === 'pypi' ? `${p.package} ${p.version}` : '']),
    [['release', 'pypi', 'two-stage 0.9.0']],
  );
  assert.ok(index.uploads.some((u) => u.name === 'two-stage'));
});

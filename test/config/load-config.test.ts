import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.js';

const dir = mkdtempSync(join(tmpdir(), 'bosun-config-'));

test('environment overrides the config file, and the demo repository is always there', () => {
  const file = join(dir, 'bosun.yml');
  writeFileSync(file, 'http: { port: 9000 }\nrepos:\n  acme/api: { url: "https://example.invalid/acme/api.git" }\n');

  const config = loadConfig({ BOSUN_CONFIG: file, BOSUN_PORT: '9100', BOSUN_DATA_DIR: dir });

  assert.equal(config.http.port, 9100);
  assert.equal(config.repos['acme/api']?.defaultBranch, 'master');
  assert.equal(config.repos.demo?.url, `file://${join(dir, 'repos', 'demo.git')}`);
});

test('secrets come from BOSUN_SECRET_* and from *_FILE (Docker secrets)', () => {
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 'file-token-0123456789abcdef\n');
  const pypiFile = join(dir, 'pypi');
  writeFileSync(pypiFile, 'pypi-secret-value');

  const config = loadConfig({ BOSUN_API_TOKEN_FILE: tokenFile, BOSUN_SECRET_DEPLOY_KEY: 'deploy-key-123', BOSUN_SECRET_PYPI_FILE: pypiFile });

  assert.deepEqual(config.apiTokens, [{ name: 'env', token: 'file-token-0123456789abcdef' }]);
  assert.deepEqual(config.secrets, { DEPLOY_KEY: 'deploy-key-123', PYPI: 'pypi-secret-value' });
});

test('multi-node Swarm: a registry from the environment, placement labels from the file; an empty registry is one node', () => {
  const file = join(dir, 'swarm.yml');
  writeFileSync(file, 'swarm:\n  constraints: [node.labels.pool==ci]\n  placement: { arm64: [node.platform.arch==aarch64] }\n');
  const config = loadConfig({ BOSUN_CONFIG: file, BOSUN_SWARM_REGISTRY: 'registry.internal:5000' });
  assert.deepEqual(config.swarm, {
    registry: 'registry.internal:5000',
    constraints: ['node.labels.pool==ci'],
    placement: { arm64: ['node.platform.arch==aarch64'] },
    unschedulableAfterSec: 120,
  });
  assert.equal(loadConfig({ BOSUN_SWARM_REGISTRY: '' }).swarm.registry, undefined, 'the stack file passes an empty value');
});

test('sandbox: a container per step by default; a sandbox per stage from the file or BOSUN_SANDBOX (docs/sandbox.md)', () => {
  const file = join(dir, 'sandbox.yml');
  writeFileSync(file, 'sandbox: stage\n');

  assert.equal(loadConfig({}).sandbox, 'step');
  assert.equal(loadConfig({ BOSUN_CONFIG: file }).sandbox, 'stage');
  assert.equal(loadConfig({ BOSUN_SANDBOX: 'stage' }).sandbox, 'stage');
});

test('sandboxPool: off by default; a size from BOSUN_SANDBOX_POOL with executor docker and sandbox: stage (docs/pool.md)', () => {
  assert.deepEqual(loadConfig({}).sandboxPool, { size: 0, images: ['bosun/base:bookworm'], idleSec: 600 });
  const file = join(dir, 'pool.yml');
  writeFileSync(file, 'executor: docker\nsandbox: stage\nsandboxPool: { size: 1, images: [bosun/busybox:1], idleSec: 30 }\n');

  assert.deepEqual(loadConfig({ BOSUN_CONFIG: file }).sandboxPool, { size: 1, images: ['bosun/busybox:1'], idleSec: 30 });
  assert.equal(loadConfig({ BOSUN_CONFIG: file, BOSUN_SANDBOX_POOL: '3' }).sandboxPool.size, 3);
  assert.equal(loadConfig({ BOSUN_EXECUTOR: 'docker', BOSUN_SANDBOX: 'stage', BOSUN_SANDBOX_POOL: '2' }).sandboxPool.size, 2);
});

const poolRefused = /sandboxPool needs executor docker and sandbox: stage .*the swarm executor has no pool yet/;
const invalid: [string, Record<string, string>, RegExp][] = [
  ['a sandbox pool on the swarm executor', { BOSUN_EXECUTOR: 'swarm', BOSUN_SANDBOX: 'stage', BOSUN_SANDBOX_POOL: '2' }, poolRefused],
  ['a sandbox pool on the auto executor', { BOSUN_SANDBOX: 'stage', BOSUN_SANDBOX_POOL: '2' }, poolRefused],
  ['a sandbox pool with a container per step', { BOSUN_EXECUTOR: 'docker', BOSUN_SANDBOX_POOL: '1' }, poolRefused],
  ['a sandbox pool size that is not a number', { BOSUN_EXECUTOR: 'docker', BOSUN_SANDBOX: 'stage', BOSUN_SANDBOX_POOL: 'two' }, /sandboxPool\.size/],
  ['an unknown sandbox mode', { BOSUN_SANDBOX: 'job' }, /sandbox/],
  ['a port that is not a number', { BOSUN_PORT: 'eighty' }, /http\.port/],
  ['an unknown executor', { BOSUN_EXECUTOR: 'kubernetes' }, /executor/],
  ['a short API token', { BOSUN_API_TOKEN: 'short' }, /at least 16 characters/],
  ['a *_FILE that does not exist', { GITHUB_TOKEN_FILE: '/nonexistent/token' }, /GITHUB_TOKEN_FILE points at/],
  ['a registry given as a URL', { BOSUN_SWARM_REGISTRY: 'http://registry:5000' }, /swarm\.registry: expected host:port/],
];
for (const [name, env, message] of invalid) {
  test(`config with ${name} fails fast naming the field`, () => {
    assert.throws(() => loadConfig(env), message);
  });
}

test('a repository granted a secret with no value is refused at startup, naming both', () => {
  const file = join(dir, 'grants.yml');
  writeFileSync(file, 'repos:\n  acme/api: { url: "https://example.invalid/acme/api.git", secrets: [PYPI_TOKEN, NPM_TOKEN] }\n');

  assert.throws(
    () => loadConfig({ BOSUN_CONFIG: file, BOSUN_DATA_DIR: dir, BOSUN_SECRET_PYPI_TOKEN: 'pypi-secret-value' }),
    /repos\.acme\/api\.secrets: NPM_TOKEN has no value \(set BOSUN_SECRET_NPM_TOKEN or BOSUN_SECRET_NPM_TOKEN_FILE\)/,
  );
  const config = loadConfig({
    BOSUN_CONFIG: file,
    BOSUN_DATA_DIR: dir,
    BOSUN_SECRET_PYPI_TOKEN: 'pypi-secret-value',
    BOSUN_SECRET_NPM_TOKEN: 'npm-secret-value',
  });
  assert.deepEqual(config.repos['acme/api']?.secrets, ['PYPI_TOKEN', 'NPM_TOKEN']);
});

test('publish: registries and indexes take their passwords from server secrets, which must have a value', () => {
  const publish = {
    docker: { registries: [{ host: 'registry.example:5000', username: 'ci', passwordSecret: 'REGISTRY_PW' }] },
    pypi: {
      repositories: {
        internal: { uploadUrl: 'https://pypi.example/legacy/', indexUrl: 'https://pypi.example/simple/', username: 'ci', passwordSecret: 'PYPI_PW' },
      },
    },
  };
  const config = loadConfig({ BOSUN_SECRET_REGISTRY_PW: 'r', BOSUN_SECRET_PYPI_PW: 'p' }, { dataDir: '/tmp/bosun-publish-config', publish });
  assert.equal(config.publish.docker.registries[0]?.host, 'registry.example:5000');
  assert.equal(config.publish.docker.timeoutSec, 1800);
  assert.throws(
    () => loadConfig({ BOSUN_SECRET_PYPI_PW: 'p' }, { dataDir: '/tmp/bosun-publish-config', publish }),
    /publish\.docker\.registries\[0\]\.passwordSecret: secret REGISTRY_PW has no value/,
  );
  assert.throws(
    () =>
      loadConfig(
        {},
        {
          dataDir: '/tmp/bosun-publish-config',
          publish: { docker: { registries: [{ host: 'https://registry.example', username: 'ci', passwordSecret: 'X' }] } },
        },
      ),
    /publish\.docker\.registries\.0\.host: expected host or host:port/,
  );
});

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startPypiIndex, type TestPypiIndex } from '../support/pypi-index.js';
import { freePort } from '../support/redis-server.js';
import { publishDistributions, type PypiPublishInput } from '../../src/publish/pypi-publish.js';
import { parseDistName } from '../../src/publish/dist-files.js';
import { buildPackage, systemPython } from './python-package.js';

const run = promisify(execFile);

let index: TestPypiIndex;
let root: string;
before(async () => {
  index = await startPypiIndex();
  root = await mkdtemp(join(tmpdir(), 'bosun-pypi-'));
});
after(async () => {
  await index?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

function input(workspace: string, over: Partial<PypiPublishInput> = {}): PypiPublishInput & { lines: string[] } {
  const lines: string[] = [];
  return {
    workspace,
    packageDir: '.',
    repository: 'internal',
    uploadUrl: index.uploadUrl,
    indexUrl: index.indexUrl,
    username: index.username,
    password: index.password,
    signal: AbortSignal.timeout(60_000),
    onLine: (l) => lines.push(l),
    lines,
    ...over,
  };
}

/** Real twine, without a keyring (so it never waits for one) and never prompting. */
function twine(args: string[], cwd: string) {
  return run('twine', ['upload', '--non-interactive', '--disable-progress-bar', ...args], {
    cwd,
    timeout: 120_000,
    env: { ...process.env, PYTHON_KEYRING_BACKEND: 'keyring.backends.null.Keyring', TWINE_USERNAME: '', TWINE_PASSWORD: '' },
  });
}

describe('the local index, pinned with the real twine', () => {
  test('twine upload succeeds with the credentials Bosun uses, and fails without them', async () => {
    const dir = join(root, 'twine-pkg');
    await buildPackage(dir, 'twine-probe', '0.1.0', 'hi');

    const refused = await twine(
      ['--repository-url', index.uploadUrl, '-u', index.username, '-p', 'wrong-password', 'dist/*'].map((a) => a),
      dir,
    ).then(
      () => null,
      (err: { stdout: string; stderr: string }) => err,
    );
    assert.ok(refused, 'twine must fail with a wrong password');
    assert.match(`${refused.stdout}${refused.stderr}`, /401|Invalid or non-existent authentication/);
    const anonymous = await twine(['--repository-url', index.uploadUrl, '-u', '', '-p', '', join(dir, 'dist', 'twine_probe-0.1.0-py3-none-any.whl')], dir).then(
      () => null,
      (err: unknown) => err,
    );
    assert.ok(anonymous, 'twine must fail without credentials');
    assert.equal(index.uploads.length, 0);

    await twine(
      [
        '--repository-url',
        index.uploadUrl,
        '-u',
        index.username,
        '-p',
        index.password,
        join(dir, 'dist', 'twine_probe-0.1.0-py3-none-any.whl'),
        join(dir, 'dist', 'twine-probe-0.1.0.tar.gz'),
      ],
      dir,
    );
    assert.deepEqual(
      index.uploads.map((u) => [u.name, u.version, u.fields.filetype]),
      [
        ['twine-probe', '0.1.0', 'bdist_wheel'],
        ['twine-probe', '0.1.0', 'sdist'],
      ],
    );
  });
});

describe('publishing a Python release', () => {
  test('uploads the sdist and wheel a step built, which pip then installs from the index and imports', async () => {
    const dir = join(root, 'ws-1');
    await buildPackage(dir, 'acme-tool', '1.0.0', 'hello from bosun');

    const result = await publishDistributions(input(dir));

    assert.equal(result.name, 'acme-tool');
    assert.equal(result.version, '1.0.0');
    assert.equal(result.alreadyPublished, false);
    assert.deepEqual(result.files.map((f) => f.filename).sort(), ['acme-tool-1.0.0.tar.gz', 'acme_tool-1.0.0-py3-none-any.whl']);
    const wheelUpload = index.uploads.find((u) => u.filename.endsWith('.whl'));
    assert.equal(wheelUpload?.fields.metadata_version, '2.1');
    assert.equal(wheelUpload?.fields.summary, 'A package Bosun publishes in tests');

    const target = join(root, 'site');
    const authed = index.indexUrl.replace('http://', `http://${index.username}:${index.password}@`);
    await run(
      systemPython,
      [
        '-m',
        'pip',
        'install',
        '--quiet',
        '--no-cache-dir',
        '--disable-pip-version-check',
        '--no-deps',
        '--only-binary',
        ':all:',
        '--target',
        target,
        '--index-url',
        authed,
        'acme-tool==1.0.0',
      ],
      { timeout: 120_000 },
    );
    const { stdout } = await run(systemPython, ['-c', 'import acme_tool; print(acme_tool.greeting())'], {
      env: { ...process.env, PYTHONPATH: target },
      timeout: 30_000,
    });
    assert.equal(stdout.trim(), 'hello from bosun');
  });

  test('the same version with the same files again is "already published": nothing uploaded', async () => {
    const dir = join(root, 'ws-1');
    const before = index.uploads.length;

    const result = await publishDistributions(input(dir));

    assert.equal(result.alreadyPublished, true);
    assert.equal(index.uploads.length, before);
  });

  test('the same version with different files is an error naming the version, and uploads nothing', async () => {
    const dir = join(root, 'ws-2');
    await buildPackage(dir, 'acme-tool', '1.0.0', 'a different body');
    const before = index.uploads.length;

    await assert.rejects(
      publishDistributions(input(dir)),
      /acme-tool 1\.0\.0 is already published in index internal \(127\.0\.0\.1:\d+\) with different contents/,
    );
    assert.equal(index.uploads.length, before);
  });

  test('refused credentials fail with a reason naming the index and the config entry', async () => {
    const dir = join(root, 'ws-3');
    await buildPackage(dir, 'acme-other', '2.0.0', 'x');

    await assert.rejects(
      publishDistributions(input(dir, { password: 'nope' })),
      /index internal \(127\.0\.0\.1:\d+\) refused Bosun's credentials .*publish\.pypi\.repositories\.internal/,
    );
  });

  test('an unreachable index and a missing dist/ say so', async () => {
    const dir = join(root, 'ws-3');
    const closed = await freePort();
    await assert.rejects(
      publishDistributions(input(dir, { indexUrl: `http://127.0.0.1:${closed}/simple/`, uploadUrl: `http://127.0.0.1:${closed}/legacy/` })),
      new RegExp(`index internal \\(127\\.0\\.0\\.1:${closed}\\) is unreachable: ECONNREFUSED`),
    );
    const empty = join(root, 'ws-empty');
    await buildPackage(empty, 'x', '1', 'x');
    await rm(join(empty, 'dist'), { recursive: true });
    await assert.rejects(publishDistributions(input(empty)), /no dist\/ directory: a step must build the distributions first/);
    await writeFile(join(root, 'ws-3', 'dist', 'acme_other-2.0.1-py3-none-any.whl'), 'x');
    await assert.rejects(publishDistributions(input(dir)), /dist\/ holds several releases \(acme-other 2\.0\.0, acme-other 2\.0\.1\)/);
  });
});

describe('distribution file names', () => {
  const cases: [string, ReturnType<typeof parseDistName>][] = [
    ['acme_tool-1.0.0-py3-none-any.whl', { name: 'acme_tool', version: '1.0.0', filetype: 'bdist_wheel', pyversion: 'py3' }],
    ['acme_tool-1.0.0-1-cp311-cp311-manylinux_2_17_x86_64.whl', { name: 'acme_tool', version: '1.0.0', filetype: 'bdist_wheel', pyversion: 'cp311' }],
    ['acme-tool-1.0.0.tar.gz', { name: 'acme-tool', version: '1.0.0', filetype: 'sdist', pyversion: 'source' }],
    ['README.txt', undefined],
    ['broken.whl', undefined],
  ];
  for (const [filename, expected] of cases) {
    test(`${filename} → ${expected ? `${expected.name} ${expected.version} (${expected.filetype})` : 'not a distribution'}`, () => {
      assert.deepEqual(parseDistName(filename), expected);
    });
  }
});

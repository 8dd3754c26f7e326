import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { requireDocker } from '../support/require-docker.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { freePort } from '../support/redis-server.js';
import { publishImage, type DockerPublishInput } from '../../src/publish/docker-publish.js';

const run = promisify(execFile);
const docker = new Docker();

let registry: TestRegistry | undefined;
let root: string;
const localImages = new Set<string>();
const image = (name: string) => `${registry?.host}/bosun-test-${process.pid}/${name}`;

before(async () => {
  if (!(await requireDocker())) return;
  registry = await startRegistry();
  root = await mkdtemp(join(tmpdir(), 'bosun-dpub-'));
});
after(async () => {
  for (const ref of localImages)
    await docker
      .getImage(ref)
      .remove({ force: true })
      .catch(() => undefined);
  await registry?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

async function workspace(name: string, files: Record<string, string>): Promise<string> {
  const dir = join(root, name);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return dir;
}

function input(ws: string, over: Partial<DockerPublishInput> = {}): DockerPublishInput & { lines: string[] } {
  const lines: string[] = [];
  const r = registry as TestRegistry;
  const out = {
    engine: docker,
    workspace: ws,
    image: image('api'),
    context: '.',
    dockerfile: 'Dockerfile',
    sha: 'a'.repeat(40),
    registry: { host: r.host, username: r.username, password: r.password },
    limits: { cpus: 1, memoryMb: 256 },
    signal: AbortSignal.timeout(300_000),
    onLine: (l: string) => lines.push(l),
    lines,
    ...over,
  };
  localImages.add(`${out.image}:${out.sha}`);
  return out;
}

describe('the test registry (docker-registry with TLS from a local CA and htpasswd)', () => {
  test('refuses a push without credentials', async (t) => {
    if (!registry) return t.skip('no Docker engine');
    const ref = `${image('anonymous')}:probe`;
    localImages.add(ref);
    await docker.getImage('bosun/busybox:1').tag({ repo: image('anonymous'), tag: 'probe' });

    const pushed = await run('docker', ['--config', join(root, 'no-login'), 'push', ref], { timeout: 120_000 }).then(
      () => null,
      (err: { stderr: string }) => err,
    );

    assert.ok(pushed, 'an anonymous push must fail');
    assert.match(pushed.stderr, /no basic auth credentials/);
  });
});

describe('publishing an image', () => {
  test("builds from the workspace with no network, pushes with Bosun's credentials, and returns the registry's digest", async (t) => {
    if (!registry) return t.skip('no Docker engine');
    const ws = await workspace('ws-1', {
      Dockerfile:
        'FROM bosun/busybox:1\n# network none: the build sees only its loopback interface\nRUN test "$(ls /sys/class/net)" = lo\nCOPY app.txt /app.txt\n',
      'app.txt': 'v1\n',
      '.git/config': 'never sent\n',
    });
    const sha = '1'.repeat(40);

    const result = await publishImage(input(ws, { sha }));

    assert.equal(result.alreadyPublished, false);
    assert.equal(result.tag, sha);
    assert.match(result.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(await registry.manifestDigest(`bosun-test-${process.pid}/api`, sha), result.digest);
    const { stdout } = await run(
      'docker',
      ['run', '--rm', '--network', 'none', `${image('api')}:${sha}`, 'sh', '-c', 'cat /app.txt; ls -a / | grep -c "^.git$" || true'],
      { timeout: 60_000 },
    );
    assert.equal(stdout, 'v1\n0\n');
  });

  test('publishing the same commit again is idempotent: the same digest, nothing built or pushed', async (t) => {
    if (!registry) return t.skip('no Docker engine');
    const ws = await workspace('ws-1b', { Dockerfile: 'FROM bosun/busybox:1\nCOPY app.txt /app.txt\n', 'app.txt': 'changed\n' });
    const sha = '1'.repeat(40);
    const first = await registry.manifestDigest(`bosun-test-${process.pid}/api`, sha);

    const again = input(ws, { sha });
    const result = await publishImage(again);

    assert.equal(result.alreadyPublished, true);
    assert.equal(result.digest, first);
    assert.ok(
      again.lines.some((l) => /already in 127\.0\.0\.1:\d+ as sha256:/.test(l)),
      again.lines.join('\n'),
    );
  });

  test("the context's .dockerignore leaves files out of the image, with Docker's rules (exceptions; an ignored Dockerfile still builds, and COPY leaves it out, as with docker build)", async (t) => {
    if (!registry) return t.skip('no Docker engine');
    const ws = await workspace('ws-ignore', {
      Dockerfile: 'FROM bosun/busybox:1\nCOPY . /ctx/\n',
      '.dockerignore': '# build junk and secrets stay home\nsecret.env\nlogs\n!logs/keep.log\n*.tmp\nDockerfile\n',
      'app.txt': 'app\n',
      'secret.env': 'TOKEN=never-in-the-image\n',
      'logs/debug.log': 'noise\n',
      'logs/keep.log': 'kept\n',
      'scratch.tmp': 'x\n',
      'sub/scratch.tmp': 'only top-level *.tmp is ignored\n',
    });
    const sha = '6'.repeat(40);
    const publish = input(ws, { sha });
    await publishImage(publish);
    const { stdout } = await run('docker', ['run', '--rm', '--network', 'none', `${image('api')}:${sha}`, 'sh', '-c', 'cd /ctx && find . -type f | sort'], {
      timeout: 60_000,
    });
    assert.deepEqual(stdout.trim().split('\n'), ['./.dockerignore', './app.txt', './logs/keep.log', './sub/scratch.tmp']);
    assert.ok(publish.lines.includes('bosun: .dockerignore: 5 pattern(s) leave files out of the build context'), publish.lines.join('\n'));
  });

  test('a Dockerfile in a sub-context builds from that directory only', async (t) => {
    if (!registry) return t.skip('no Docker engine');
    const ws = await workspace('ws-2', {
      'svc/build/Containerfile': 'FROM bosun/busybox:1\nCOPY only.txt /only.txt\n',
      'svc/only.txt': 'x\n',
      'secret.txt': 'outside',
    });
    const result = await publishImage(input(ws, { context: 'svc', dockerfile: 'build/Containerfile', sha: '2'.repeat(40) }));
    assert.match(result.digest, /^sha256:/);
  });

  describe('fails with a reason naming the registry', () => {
    const cases: [string, () => Promise<Partial<DockerPublishInput>>, RegExp][] = [
      [
        'wrong credentials',
        async () => ({ registry: { host: registry!.host, username: registry!.username, password: 'wrong' } }),
        /registry 127\.0\.0\.1:\d+: authentication refused/,
      ],
      [
        'an unreachable registry',
        async () => {
          const port = await freePort();
          return { image: `127.0.0.1:${port}/acme/api`, registry: { host: `127.0.0.1:${port}`, username: 'u', password: 'p' } };
        },
        /registry 127\.0\.0\.1:\d+: unreachable: .*connection refused/,
      ],
    ];
    for (const [name, over, expected] of cases) {
      test(name, async (t) => {
        if (!registry) return t.skip('no Docker engine');
        const ws = await workspace(`ws-fail-${name.replaceAll(' ', '-')}`, { Dockerfile: 'FROM bosun/busybox:1\n' });
        await assert.rejects(publishImage(input(ws, { sha: '3'.repeat(40), ...(await over()) })), expected);
      });
    }
  });

  describe('refuses a context it cannot build', () => {
    const cases: [string, Record<string, string>, Partial<DockerPublishInput>, RegExp][] = [
      ['no Dockerfile', { 'app.txt': 'x' }, {}, /no Dockerfile at Dockerfile/],
      ['a context that is not a directory', { Dockerfile: 'FROM x\n' }, { context: 'nope' }, /no build context: nope is not a directory/],
      ['a failing RUN', { Dockerfile: 'FROM bosun/busybox:1\nRUN exit 7\n' }, {}, /building .* failed: .*returned a non-zero code: 7/],
    ];
    for (const [name, files, over, expected] of cases) {
      test(name, async (t) => {
        if (!registry) return t.skip('no Docker engine');
        const ws = await workspace(`ws-bad-${name.replaceAll(' ', '-')}`, files);
        await assert.rejects(publishImage(input(ws, { sha: '4'.repeat(40), ...over })), expected);
      });
    }

    test('a context that is a symlink leading out of the repository', async (t) => {
      if (!registry) return t.skip('no Docker engine');
      const ws = await workspace('ws-link', { Dockerfile: 'FROM x\n' });
      await symlink('/etc', join(ws, 'etc'));
      await assert.rejects(publishImage(input(ws, { context: 'etc', sha: '5'.repeat(40) })), /build context etc leads outside the repository/);
    });
  });
});
